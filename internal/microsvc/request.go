package microsvc

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// ErrAnswered is returned by a second answer to one request.
var ErrAnswered = errors.New("microsvc: request already answered")

// Request is one request to an endpoint. It is answered once, with Respond,
// Error or Drop, from any goroutine; the answer ends its processing time and
// is counted in the endpoint's statistics before the reply is sent, so a
// client that got its reply finds it in $SRV.STATS.
type Request struct {
	msg      *nats.Msg
	endpoint *endpoint
	nc       *nats.Conn
	start    time.Time
	answered atomic.Bool
}

// Data is the request's body.
func (r *Request) Data() []byte { return r.msg.Data }

// Header is the request's headers (nil when it has none).
func (r *Request) Header() nats.Header { return r.msg.Header }

// Subject is the subject the request was sent to.
func (r *Request) Subject() string { return r.msg.Subject }

// Reply is the request's reply subject.
func (r *Request) Reply() string { return r.msg.Reply }

// Start is when the request was handed to the endpoint's handler: its
// processing time runs from there.
func (r *Request) Start() time.Time { return r.start }

// Respond sends data as the reply: a success. Options are micro's (e.g.
// micro.WithHeaders). A reply that cannot be sent counts as an error, as in
// micro.
func (r *Request) Respond(data []byte, opts ...micro.RespondOpt) error {
	if !r.answered.CompareAndSwap(false, true) {
		return ErrAnswered
	}
	r.endpoint.record(time.Since(r.start), "")
	if err := r.publish(&nats.Msg{Data: data}, opts); err != nil {
		err = fmt.Errorf("%w: %w", micro.ErrRespond, err)
		r.endpoint.fail(err.Error(), true)
		return err
	}
	return nil
}

// Error sends an error reply: micro's headers Nats-Service-Error-Code (code)
// and Nats-Service-Error (description), data as the body. It counts as an
// error of the endpoint, last_error "<code>:<description>", as in micro.
func (r *Request) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	if code == "" || description == "" {
		return fmt.Errorf("%w: error code and description", micro.ErrArgRequired)
	}
	if !r.answered.CompareAndSwap(false, true) {
		return ErrAnswered
	}
	r.endpoint.record(time.Since(r.start), code+":"+description)
	h := nats.Header{micro.ErrorCodeHeader: []string{code}, micro.ErrorHeader: []string{description}}
	if err := r.publish(&nats.Msg{Header: h, Data: data}, opts); err != nil {
		err = fmt.Errorf("%w: %w", micro.ErrRespond, err)
		r.endpoint.fail(err.Error(), false) // counted already
		return err
	}
	return nil
}

// Drop ends the request without a reply (its client will time out): it
// counts as an error, last_error reason. It returns ErrAnswered when the
// request was answered already.
func (r *Request) Drop(reason string) error {
	if !r.answered.CompareAndSwap(false, true) {
		return ErrAnswered
	}
	if reason == "" {
		reason = "dropped without a reply"
	}
	r.endpoint.record(time.Since(r.start), reason)
	return nil
}

func (r *Request) publish(m *nats.Msg, opts []micro.RespondOpt) error {
	if r.msg.Reply == "" {
		return nats.ErrMsgNoReply
	}
	for _, opt := range opts {
		opt(m)
	}
	m.Subject = r.msg.Reply
	return r.nc.PublishMsg(m)
}
