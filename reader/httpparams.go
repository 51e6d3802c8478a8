package reader

import (
	"fmt"
	"strconv"
)

// NumericParams maps each query's "<model>.<name>" to the parameters it
// declares as numbers: what an HTTP front (the gateway's queries, the live
// queries' Server-Sent Events) needs to turn a query string into the JSON
// parameters a query takes.
func NumericParams(queries []Query) map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(queries))
	for _, q := range queries {
		n := make(map[string]bool, len(q.Params))
		for _, p := range q.Params {
			n[p.Name] = p.Numeric()
		}
		out[q.Model+"."+q.Name] = n
	}
	return out
}

// HTTPParam is the JSON value of one query-string parameter: an integer
// when numeric, else the string as given; the error says which parameter
// is not an integer.
func HTTPParam(key, value string, numeric bool) (any, error) {
	if !numeric {
		return value, nil
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("parameter %q must be an integer, got %q", key, value)
	}
	return n, nil
}
