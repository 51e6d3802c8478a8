// Package microsvc serves the NATS micro protocol (ADR-32) for endpoints
// whose requests are answered after their handler returned.
//
// # Why not micro
//
// nats.go's micro package records an endpoint's statistics (num_requests,
// num_errors, last_error, processing_time) as its handler returns, and reads
// the error from the Request the handler answered through. A service that
// hands each request to a worker and answers it later (the writer's worker
// pool, the reader's waiting queries) shows there only the hand-off: every
// request a success, processing times of microseconds; and micro.Request's
// Respond and Error may not be called from another goroutine once the
// handler returned.
//
// Here the statistics are recorded when the reply is sent: a Request is
// answered once, from any goroutine, with Respond, Error (micro's error
// headers Nats-Service-Error and Nats-Service-Error-Code) or Drop (no
// reply), and that moment ends its processing time. Everything else is
// micro's: the control subjects ($SRV.PING, $SRV.INFO, $SRV.STATS, alone,
// with <name> and with <name>.<id>) answer with micro's own types
// (micro.Ping, micro.Info, micro.Stats), so `nats micro ls/info/stats`
// show the service as any micro service.
//
//	svc, err := microsvc.AddService(nc, microsvc.Config{Name: "jetsource-writer", Version: "0.1.0"})
//	err = svc.AddGroup("cmd.account").AddEndpoint("account_deposit", func(req *microsvc.Request) {
//		go func() { req.Respond(work(req.Data())) }() // counted when answered
//	}, microsvc.WithSubject("deposit"))
//	...
//	err = svc.Stop() // drains; <-svc.Drained() once every request taken reached its handler
//
// As with micro, the handler of one endpoint is called for one request at a
// time; endpoints share a queue group (micro.DefaultQueueGroup unless
// configured); pending limits bound what an endpoint buffers, and requests
// dropped past them (a slow consumer) count as an error of the endpoint and
// are reported to Config.ErrorHandler.
package microsvc
