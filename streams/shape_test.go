package streams

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type shapeNode struct {
	Name     string       `json:"name"`
	Children []*shapeNode `json:"children"`
}

func TestShapeOfSeesFieldsOfNestedElements(t *testing.T) {
	type a struct {
		A int `json:"a"`
	}
	type b struct {
		B int `json:"b"`
	}
	type aStr struct {
		A string `json:"a"`
	}
	differ := []struct {
		name       string
		one, other string
	}{
		{"field of a slice element", shapeOf[struct{ X []a }](), shapeOf[struct{ X []b }]()},
		{"field of a map value", shapeOf[struct{ X map[string]a }](), shapeOf[struct{ X map[string]b }]()},
		{"map key type", shapeOf[map[string]int](), shapeOf[map[int]int]()},
		{"field behind a pointer", shapeOf[struct{ X *a }](), shapeOf[struct{ X *b }]()},
		{"field of an array element", shapeOf[[2]a](), shapeOf[[2]b]()},
		{"kind of a nested field", shapeOf[[]a](), shapeOf[[]aStr]()},
		{"json tag", shapeOf[a](), shapeOf[struct {
			A int `json:"a,omitempty"`
		}]()},
	}
	for _, c := range differ {
		assert.NotEqual(t, c.one, c.other, c.name)
	}
	assert.Equal(t, shapeOf[struct{ X []a }](), shapeOf[struct{ X []a }](), "stable")
	assert.NotEmpty(t, shapeOf[shapeNode](), "a recursive type has a shape")
	assert.NotEmpty(t, shapeOf[struct{ At time.Time }](), "a type with its own encoding has a shape")
}
