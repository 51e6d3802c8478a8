package codec_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/codec"
)

type Plain struct {
	Name  string  `json:"name"`
	Note  string  `json:"note,omitempty"`
	N     int64   `json:"n"`
	U     uint64  `json:"u,string"`
	F     float64 `json:"f"`
	G     float32 `json:"g"`
	OK    bool
	Small int8 `json:"small"`
}

type Empty struct{}

type WithUnexported struct {
	N      int `json:"n"`
	hidden int
}

type WithSkipped struct {
	N    int `json:"n"`
	Skip int `json:"-"`
}

type WithTime struct {
	At time.Time `json:"at"`
}

type WithSlice struct {
	Items []string `json:"items"`
}

type Base struct {
	N int `json:"n"`
}

type WithEmbedded struct {
	Base
}

type WithFoldedNames struct {
	A string `json:"name"`
	B string `json:"Name"`
}

func rtRegistry() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[Plain](r, "PlainHappened")
	codec.Register[Empty](r, "EmptyHappened")
	codec.Register[WithUnexported](r, "UnexportedHappened")
	codec.Register[WithSkipped](r, "SkippedHappened")
	codec.Register[WithTime](r, "TimeHappened")
	codec.Register[WithSlice](r, "SliceHappened")
	codec.Register[WithEmbedded](r, "EmbeddedHappened")
	codec.Register[WithFoldedNames](r, "FoldedHappened")
	codec.Register[*Plain](r, "PointerHappened")
	return r
}

func TestEncodeRoundTripsOnlyWhatDecodesBackEqual(t *testing.T) {
	r := rtRegistry()
	for _, tc := range []struct {
		event any
		want  bool
	}{
		{Plain{Name: "ada", N: -5, U: math.MaxUint64, F: 0.1, G: 1.0 / 3, OK: true, Small: -128}, true},
		{Plain{Name: "<&> \"quoted\" é \u2028 \x7f", F: math.Copysign(0, -1), G: math.SmallestNonzeroFloat32}, true},
		{Plain{F: math.MaxFloat64, N: math.MinInt64}, true},
		{Plain{Name: "bad \xff utf-8"}, false},
		{Plain{Note: "\xc3"}, false},
		{Empty{}, true},
		{WithUnexported{N: 1, hidden: 2}, false},
		{WithSkipped{N: 1, Skip: 2}, false},
		{WithTime{At: time.Now()}, false},
		{WithSlice{Items: []string{}}, false},
		{WithEmbedded{Base{N: 1}}, false},
		{WithFoldedNames{A: "a", B: "b"}, false},
		{&Plain{N: 1}, false},
	} {
		enc, err := r.Encode(tc.event)
		require.NoError(t, err)
		assert.Equal(t, tc.want, enc.RoundTrips, "%#v", tc.event)
		if enc.RoundTrips {
			back, err := r.Decode(enc.Type, enc.Schema, enc.Data)
			require.NoError(t, err)
			assert.Equal(t, tc.event, back, "decoded from %s", enc.Data)
		}
	}
}

func TestPlainFieldsNamesWhatEncodingJSONReads(t *testing.T) {
	fields, plain, whole := codec.PlainFields(reflectType[Plain]())
	assert.Equal(t, []codec.PlainField{
		{Name: "name", Index: 0, Kind: reflect.String}, {Name: "note", Index: 1, Kind: reflect.String},
		{Name: "n", Index: 2, Kind: reflect.Int64}, {Name: "u", Index: 3, Kind: reflect.Uint64, Quoted: true},
		{Name: "f", Index: 4, Kind: reflect.Float64}, {Name: "g", Index: 5, Kind: reflect.Float32},
		{Name: "OK", Index: 6, Kind: reflect.Bool}, {Name: "small", Index: 7, Kind: reflect.Int8},
	}, fields)
	assert.True(t, plain)
	assert.True(t, whole)

	fields, plain, whole = codec.PlainFields(reflectType[WithSkipped]())
	assert.Equal(t, []codec.PlainField{{Name: "n", Index: 0, Kind: reflect.Int}}, fields)
	assert.True(t, plain, "a skipped field is not read")
	assert.False(t, whole, "a skipped field does not come back")

	_, plain, _ = codec.PlainFields(reflectType[WithTime]())
	assert.False(t, plain)
}

func reflectType[T any]() reflect.Type { return reflect.TypeFor[T]() }
