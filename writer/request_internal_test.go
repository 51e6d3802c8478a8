package writer

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jetsource/jetsource/streams"
)

// decodeReference is DecodeRequest as it was before it walked the body in
// place: a decode into a map with encoding/json. The fast decoder must agree
// with it on every body.
func decodeReference(body []byte) (Request, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Request{}, badRequest(`empty body: send a JSON object such as {"aggregate_id": "acc-52", "data": {…}}`)
	}
	if trimmed[0] != '{' {
		return Request{}, badRequest("the body must be a JSON object, got %s", describeStart(trimmed[0]))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return Request{}, badRequest("malformed JSON: %s", describe(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, badRequest("unexpected content after the JSON object")
	}
	for name := range fields {
		if !slices.Contains(requestFields, name) {
			return Request{}, badRequest("unknown field %q: a request has only %s", truncate(name), strings.Join(requestFields, ", "))
		}
	}
	var r Request
	raw, ok := fields["aggregate_id"]
	if !ok || isNull(raw) {
		return Request{}, badRequest("aggregate_id is required")
	}
	id, err := stringField("aggregate_id", raw)
	if err != nil {
		return Request{}, err
	}
	if err := streams.ValidateID(id); err != nil {
		return Request{}, badRequest("aggregate_id: %v", err)
	}
	r.AggregateID = id
	if raw, ok := fields["command_id"]; ok && !isNull(raw) {
		cid, err := stringField("command_id", raw)
		if err != nil {
			return Request{}, err
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`).MatchString(cid) {
			return Request{}, badRequest("command_id %s must be 1 to %d characters of A-Z, a-z, 0-9, '_' and '-' ([A-Za-z0-9_-]{1,128})",
				strconv.QuoteToASCII(truncate(cid)), MaxCommandIDLength)
		}
		r.CommandID = cid
	}
	if raw, ok := fields["expected_version"]; ok && !isNull(raw) {
		v, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			return Request{}, badRequest("expected_version must be a non-negative integer, got %s", truncate(string(raw)))
		}
		ev := streams.Version(v)
		r.ExpectedVersion = &ev
	}
	if raw, ok := fields["data"]; ok && !isNull(raw) {
		if raw[0] != '{' {
			return Request{}, badRequest("data must be a JSON object, got %s", describeStart(raw[0]))
		}
		r.Data = raw
	}
	return r, nil
}

// requestSeeds are bodies on the edges of the request's grammar.
var requestSeeds = []string{`{"aggregate_id":"a"}`, `[]`, ``, ` {"aggregate_id" : "a" , "data" : { "x" : [1, {"}": "]"}] } } `,
	`{"aggregate_id":"a","command_id":"c-1","expected_version":3,"data":{"amount":100}}`, `{"aggregate_id":"a","aggregate_id":"*"}`,
	`{"Aggregate_Id":"a"}`, `{"aggregate_id":"\u0000"}`, `{"aggregate\u005fid":"a\u002db"}`, `{"aggregate_id":"a"} {}`,
	`{"aggregate_id":"a","expected_version":null,"data":null,"command_id":null}`, `{"aggregate_id":"a\"b"}`, `{"aggregate_id":"a","x":1}`,
	"{\"aggregate_id\":\"\xff\"}", `{"aggregate_id":"a","command_id":"\u00e9"}`, `{"aggregate_id":"a","expected_version":1e2}`, `{}`}

func FuzzDecodeRequestAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(agreesWithEncodingJSON)
}

// TestDecodeRequestAgreesWithEncodingJSON runs the fuzz target on the seeds
// and on many deterministic mutations of them (bytes changed, cut, repeated),
// without the fuzzing engine.
func TestDecodeRequestAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,\ 0123456789-.eEtrufalsn_abcdi` + "\x00\xff\u00e9")
	for _, seed := range requestSeeds {
		agreesWithEncodingJSON(t, []byte(seed))
		for range 2000 {
			b := []byte(seed)
			for range 1 + rng.IntN(3) {
				switch op := rng.IntN(3); {
				case op == 0 && len(b) > 0:
					b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
				case op == 1 && len(b) > 0:
					i := rng.IntN(len(b))
					b = append(b[:i:i], b[i+1:]...)
				default:
					i := rng.IntN(len(b) + 1)
					b = append(b[:i:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
				}
			}
			agreesWithEncodingJSON(t, b)
		}
	}
}

func agreesWithEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	{
		got, gotErr := DecodeRequest(body)
		want, wantErr := decodeReference(body)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: got %v, encoding/json %v", body, gotErr, wantErr)
		}
		if gotErr != nil {
			var re *RequestError
			if !errors.As(gotErr, &re) || re.Code != CodeBadRequest {
				t.Fatalf("%q: %v is not a bad request", body, gotErr)
			}
			// With several unknown fields the map's order picks the one named.
			if !strings.Contains(wantErr.Error(), "unknown field") && gotErr.Error() != wantErr.Error() {
				t.Fatalf("%q: got %q, encoding/json %q", body, gotErr, wantErr)
			}
			return
		}
		if got.AggregateID != want.AggregateID || got.CommandID != want.CommandID || !bytes.Equal(got.Data, want.Data) ||
			(got.ExpectedVersion == nil) != (want.ExpectedVersion == nil) ||
			got.ExpectedVersion != nil && *got.ExpectedVersion != *want.ExpectedVersion {
			t.Fatalf("%q: got %+v, encoding/json %+v", body, got, want)
		}
	}
}

func TestReplyEncodesAsEncodingJSONDoes(t *testing.T) {
	// plain has Reply's fields and tags but not its MarshalJSON.
	type plainEvent struct {
		Type     string `json:"type"`
		Version  uint64 `json:"version"`
		Sequence uint64 `json:"sequence"`
	}
	type plain struct {
		AggregateID string       `json:"aggregate_id"`
		Version     uint64       `json:"version"`
		Sequence    uint64       `json:"sequence"`
		Events      []plainEvent `json:"events"`
	}
	for _, r := range []Reply{
		{},
		{AggregateID: "acc-52", Version: 4, Sequence: 1234, Events: []ReplyEvent{{Type: "MoneyDeposited", Version: 4, Sequence: 1234}}},
		{AggregateID: "o-1", Version: 18446744073709551615, Sequence: 7, Events: []ReplyEvent{}},
		{AggregateID: "x", Events: []ReplyEvent{{Type: "A"}, {Type: "<b>&\"q\"\\\n\u2028é\xff", Version: 2, Sequence: 3}}},
	} {
		p := plain{AggregateID: r.AggregateID, Version: r.Version, Sequence: r.Sequence}
		if r.Events != nil {
			p.Events = []plainEvent{}
		}
		for _, e := range r.Events {
			p.Events = append(p.Events, plainEvent(e))
		}
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(r) // through Reply.MarshalJSON
		if err != nil {
			t.Fatal(err)
		}
		direct, _ := r.MarshalJSON()
		if string(got) != string(want) || string(direct) != string(want) {
			t.Errorf("reply %+v: got %s (direct %s), encoding/json %s", r, got, direct, want)
		}
	}
}
