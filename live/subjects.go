package live

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jetsource/jetsource/reader"
)

// Names and bounds of live queries; zero Options mean these.
const (
	// DefaultStream is the stream of answers (LIVE_<deployment> in a named
	// deployment). It is never the event stream.
	DefaultStream = "LIVE"
	// DefaultHistory is how many answers the stream keeps per instance: a
	// resume from an older sequence gets a reset.
	DefaultHistory = 256
	// DefaultMaxAge is how long the stream keeps an answer.
	DefaultMaxAge = 15 * time.Minute
	// DefaultInstanceTTL is how long a server keeps recomputing an instance
	// after its last subscribe request; subscribers renew at half of it.
	DefaultInstanceTTL = 2 * time.Minute
	// DefaultCheckInterval is how often the instances whose projection
	// moved past their last read are recomputed, so that a lost notice
	// delays an update by at most this much.
	DefaultCheckInterval = 2 * time.Second
	// DefaultBuffer is how many answers a subscriber may have unread before
	// it is cut off.
	DefaultBuffer = 256
	// DefaultMaxInstances bounds the instances one server keeps: each costs
	// a read per check interval.
	DefaultMaxInstances = 10000
	// maxConcurrentRefresh bounds the instances one server reads at once.
	maxConcurrentRefresh = 16
)

// RequestSubject is where a client subscribes to the instances of a query:
// live.<model>.<name>.
func RequestSubject(model, name string) string { return "live." + model + "." + name }

// requestWildcard matches every RequestSubject.
const requestWildcard = "live.*.*"

// answerToken is the second token of the answer subjects of a deployment.
func answerToken(deployment string) string {
	if deployment == "" {
		return "answer"
	}
	return "answer_" + deployment
}

// StreamName is the answers' stream of a deployment.
func StreamName(deployment string) string {
	if deployment == "" {
		return DefaultStream
	}
	return DefaultStream + "_" + strings.ReplaceAll(deployment, "-", "_")
}

// AnswerSubject is the subject of one instance's answers:
// live.answer[_<deployment>].<model>.<name>.<instance>.
func AnswerSubject(deployment, model, name, instance string) string {
	return "live." + answerToken(deployment) + "." + model + "." + name + "." + instance
}

// NoticeSubject is where the runner's notices of a projection go:
// jetsource.[<deployment>.]live.notice.<projection>.
func NoticeSubject(deployment, projection string) string {
	if deployment == "" {
		return "jetsource.live.notice." + projection
	}
	return "jetsource." + deployment + ".live.notice." + projection
}

// canonical returns the instance's parameters in one canonical JSON form
// (every declared parameter given or with a default, keys sorted) and its
// id: the first 16 bytes of the SHA-256 of <model>.<name> NUL <canonical>,
// in hex.
func canonical(q reader.Query, p reader.Params) (json.RawMessage, string, error) {
	m := map[string]any{}
	for _, d := range q.Params {
		switch {
		case d.Type == reader.Integer:
			m[d.Name] = p.Int(d.Name)
		case p.Has(d.Name):
			m[d.Name] = p.String(d.Name)
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, "", fmt.Errorf("live: encode parameters of %s: %w", q.Subject(), err)
	}
	sum := sha256.Sum256(append([]byte(q.Model+"."+q.Name+"\x00"), raw...))
	return raw, hex.EncodeToString(sum[:16]), nil
}
