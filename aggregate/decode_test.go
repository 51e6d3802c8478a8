package aggregate

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

type plainCmd struct {
	Amount int64   `json:"amount"`
	Note   string  `json:"note,omitempty"`
	Rate   float64 `json:"rate"`
	Flag   bool
	Count  uint8 `json:"count,string"`
	hidden int
	Skip   string `json:"-"`
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

func TestPlainFieldsOnlyForFlatStructsOfScalars(t *testing.T) {
	for _, tc := range []struct {
		typ   reflect.Type
		names []string
		plain bool
	}{
		{reflect.TypeFor[plainCmd](), []string{"amount", "note", "rate", "Flag", "count"}, true},
		{reflect.TypeFor[validCmd](), []string{"amount"}, true},
		{reflect.TypeFor[emptyCmd](), nil, true},
		{reflect.TypeFor[nestedCmd](), nil, false},   // a slice
		{reflect.TypeFor[embeddedCmd](), nil, false}, // an embedded struct
		{reflect.TypeFor[foldCmd](), nil, false},     // names equal but for case
		{reflect.TypeFor[timeCmd](), nil, false},     // decodes itself
		{reflect.TypeFor[oddTagCmd](), nil, false},   // a tag name encoding/json may not take
		{reflect.TypeFor[map[string]int](), nil, false},
		{reflect.TypeFor[*plainCmd](), nil, false},
	} {
		names, plain := plainFieldsOf(tc.typ)
		if plain != tc.plain || !slices.Equal(names, tc.names) {
			t.Errorf("%v: got %v %v, want %v %v", tc.typ, names, plain, tc.names, tc.plain)
		}
	}
}

func TestNamesOnlyReadsMemberNames(t *testing.T) {
	names := []string{"amount", "note"}
	for in, want := range map[string]bool{
		`{}`:                                true,
		`{"amount":1}`:                      true,
		`{ "amount" : 1 , "note" : "x,}" }`: true,
		`{"note":"a\"b"}`:                   true,
		`{"Amount":1}`:                      false,
		`{"amount":1,"other":2}`:            false,
		`{"am\u006funt":1}`:                 false,
		`{"amount":{"a":1}}`:                false,
		`{"amount":[1]}`:                    false,
		`{"amount":1`:                       false,
		`{"amount"`:                         false,
		`{"amo`:                             false,
		`{"note":"x`:                        false,
		`{`:                                 false,
	} {
		if got := namesOnly([]byte(in), names); got != want {
			t.Errorf("namesOnly(%q) = %v, want %v", in, got, want)
		}
	}
}
