// Command reader answers jetsource queries (query.<model>.<name>) from the
// Redis read models: the jetsource-reader NATS micro service. It stops
// cleanly on SIGINT or SIGTERM.
//
//	reader [-config file] [-nats-url url] [-redis-url url] …
package main

import (
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/service"
)

func main() {
	service.Main("reader", service.Needs{Redis: true}, samples.Platform().Reader)
}
