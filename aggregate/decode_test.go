package aggregate

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type plainCmd struct {
	Amount int64   `json:"amount"`
	Note   string  `json:"note,omitempty"`
	Rate   float64 `json:"rate"`
	Flag   bool
	Count  uint8 `json:"count,string"`
	hidden int
	Skip   string  `json:"-"`
	Small  int8    `json:"small"`
	Wide   uint16  `json:"wide"`
	F32    float32 `json:"f32"`
}

type nestedCmd struct {
	Items []string `json:"items"`
}

type Inner struct {
	A int `json:"a"`
}

type embeddedCmd struct {
	Inner
	B int `json:"b"`
}

type foldCmd struct {
	Name  string `json:"name"`
	Name2 string `json:"NAME"`
}

type timeCmd struct {
	At time.Time `json:"at"`
}

type oddTagCmd struct {
	X int `json:"x-y"`
}

type emptyCmd struct{}

// validCmd refuses a negative amount.
type validCmd struct {
	Amount int64 `json:"amount"`
}

func (c validCmd) Validate() error {
	if c.Amount < 0 {
		return Invalid("amount must not be negative")
	}
	return nil
}

// strictOnly is DecodeCommand as it was before its fast path: the strict
// decoder for every input. The fast path must answer exactly as it does.
func strictOnly[C any](data json.RawMessage) (C, error) {
	var cmd C
	trimmed := []byte(string(data))
	for len(trimmed) > 0 && (trimmed[0] == ' ' || trimmed[0] == '\n' || trimmed[0] == '\t' || trimmed[0] == '\r') {
		trimmed = trimmed[1:]
	}
	for len(trimmed) > 0 && (trimmed[len(trimmed)-1] == ' ' || trimmed[len(trimmed)-1] == '\n' || trimmed[len(trimmed)-1] == '\t' || trimmed[len(trimmed)-1] == '\r') {
		trimmed = trimmed[:len(trimmed)-1]
	}
	if len(trimmed) > 0 && string(trimmed) != "null" {
		if trimmed[0] != '{' {
			return cmd, Invalid("data must be a JSON object")
		}
		if err := decodeStrict(trimmed, &cmd); err != nil {
			return cmd, err
		}
	}
	if v, ok := any(cmd).(Validator); ok {
		if err := v.Validate(); err != nil {
			return cmd, err
		}
	}
	return cmd, nil
}

var decodeInputs = []string{
	``, `null`, ` null `, `{}`, ` { } `, `[]`, `"x"`, `12`,
	`{"amount":5}`, `{"amount": 5 , "note":"hi"}`, `{"amount":-3}`, "{\n\t\"amount\" :\r 7\n}",
	`{"amount":5,"amount":6}`, `{"Amount":5}`, `{"AMOUNT":5}`, `{"amount":"5"}`, `{"amount":5.5}`,
	`{"amount":99999999999999999999}`, `{"amount":null}`, `{"amount":5}x`, `{"amount":5} {}`,
	`{"amount":5`, `{"amount":}`, `{"amount" 5}`, `{"amount":5,}`, `{,"amount":5}`, `{"bogus":1}`,
	`{"amount":5,"bogus":{"a":[1,2]}}`, `{"am\u006funt":5}`, `{"note":"a\"b\\c\u00e9"}`, `{"note":"é"}`,
	`{"note":"` + "\x01" + `"}`, `{"rate":1e3,"Flag":true}`, `{"flag":true}`, `{"Flag":"yes"}`,
	`{"count":"7"}`, `{"count":7}`, `{"count":"300"}`, `{"hidden":1}`, `{"Skip":"s"}`, `{"-":"s"}`,
	`{"items":["a","b"]}`, `{"items":"a"}`, `{"a":1,"b":2}`, `{"name":"n","NAME":"m"}`, `{"Name":"n"}`,
	`{"at":"2024-01-02T03:04:05Z"}`, `{"at":"yesterday"}`, `{"x-y":3}`, `{"X":3}`, `{"amount":1,"amount":-1}`,
	`{"note":"}"}`, `{"note":","}`, `{"note":"\"}"}`, `{"amount":5}` + "\n",
	`{"small":127}`, `{"small":128}`, `{"small":-129}`, `{"wide":65536}`, `{"wide":-1}`, `{"wide":-0}`, `{"amount":-0}`,
	`{"amount":1e2}`, `{"amount":1E2}`, `{"amount":10.0}`, `{"amount":9223372036854775807}`, `{"amount":9223372036854775808}`,
	`{"f32":3.4e38}`, `{"f32":3.5e38}`, `{"f32":1e-50}`, `{"rate":1e400}`, `{"rate":-0}`, `{"rate":true}`, `{"rate":"1"}`,
	`{"Flag":1}`, `{"Flag":null}`, `{"note":null}`, `{"note":5}`, `{"note":true}`, `{"note":"` + "\xff" + `"}`,
	`{"note":"\u00e9\n"}`, `{"note":"tab\there"}`, `{"amount":5,"small":300}`, `{"small":300,"amount":5}`,
	`{"amount":5,"note":"x","rate":2.5,"Flag":false,"small":-1,"wide":7,"f32":0.1}`, `{"count":"7","amount":1}`,
	`{ }`, "{\"amount\":1\t}", `{"amount" : null , "note" : "n" }`,
}

func checkSameAsStrict[C any](t *testing.T) {
	t.Helper()
	for _, in := range decodeInputs {
		got, gotErr := DecodeCommand[C](json.RawMessage(in))
		want, wantErr := strictOnly[C](json.RawMessage(in))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%T from %q: got %+v, the strict decoder gives %+v", got, in, got, want)
		}
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Errorf("%T from %q: got error %v, the strict decoder gives %v", got, in, gotErr, wantErr)
		}
	}
}

func TestDecodeCommandAnswersAsTheStrictDecoder(t *testing.T) {
	checkSameAsStrict[plainCmd](t)
	checkSameAsStrict[nestedCmd](t)
	checkSameAsStrict[embeddedCmd](t)
	checkSameAsStrict[foldCmd](t)
	checkSameAsStrict[timeCmd](t)
	checkSameAsStrict[oddTagCmd](t)
	checkSameAsStrict[emptyCmd](t)
	checkSameAsStrict[validCmd](t)
	checkSameAsStrict[map[string]int](t)
}

// A command of plain fields is decoded in place: without the strict
// decoder's buffers (8 allocations for this command).
func TestDecodeCommandOfPlainFieldsDecodesInPlace(t *testing.T) {
	data := json.RawMessage(`{"amount": 5, "rate": -1.5e3, "Flag": true, "small": -128, "wide": 65535, "f32": 3.25}`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeCommand[plainCmd](data); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 2.0)
	got, err := DecodeCommand[plainCmd](data)
	require.NoError(t, err)
	assert.Equal(t, plainCmd{Amount: 5, Rate: -1500, Flag: true, Small: -128, Wide: 65535, F32: 3.25}, got)
}
