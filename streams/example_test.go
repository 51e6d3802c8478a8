package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/streams"
)

// Example shows the store's main calls on an embedded server: append with
// optimistic concurrency, a conflicting append, and a typed load.
func Example() {
	dir, _ := os.MkdirTemp("", "jetsource-example-")
	defer os.RemoveAll(dir)
	srv, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	srv.Start()
	defer srv.Shutdown()
	srv.ReadyForConnections(exampleTimeout)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	ctx := context.Background()

	store, err := streams.Open(ctx, nc)
	if err != nil {
		fmt.Println(err)
		return
	}
	ref, _ := streams.NewRef("account", "acc-52")
	opened := streams.Event{Type: "AccountOpened", Data: []byte(`{"owner":"ada"}`)}
	deposited := streams.Event{Type: "MoneyDeposited", Data: []byte(`{"amount":100}`)}

	// A new aggregate is expected at the zero Position.
	res, _ := store.Append(ctx, ref, streams.Position{}, []streams.Event{opened, deposited}, streams.WithCommandID("cmd-1"))
	fmt.Println("version", res.Position.Version)

	// Appending again from the zero Position conflicts: the aggregate exists.
	_, err = store.Append(ctx, ref, streams.Position{}, []streams.Event{deposited})
	fmt.Println(err)

	type balance struct{ Amount int64 }
	repo, _ := streams.NewRepository(store, streams.Model[balance]{
		Type: "account",
		Apply: func(b balance, r streams.Recorded) (balance, error) {
			var e struct{ Amount int64 }
			err := json.Unmarshal(r.Data, &e)
			b.Amount += e.Amount
			return b, err
		},
	})
	acc, _ := repo.Load(ctx, "acc-52")
	fmt.Println("balance", acc.State.Amount, "at version", acc.Position.Version)
	// Output:
	// version 2
	// append account/acc-52: concurrency conflict: expected version 0 (sequence 0), actual version 2 (sequence 2)
	// balance 100 at version 2
}

const exampleTimeout = 10 * time.Second
