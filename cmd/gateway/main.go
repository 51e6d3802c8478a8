// Command gateway is jetsource's HTTP front door: POST
// /v1/commands/{type}/{command} and GET /v1/queries/{model}/{name}, forwarded
// over NATS request-reply to the writer and the reader, with /healthz,
// /readyz and /metrics on the same listener.
//
//	gateway [-config file] [-nats-url url] [-gateway-listen addr] …
package main

import (
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/service"
)

func main() {
	service.Main("gateway", service.Needs{Gateway: true}, samples.Platform().Gateway)
}
