package reader

import (
	"context"
	"encoding/json"
)

// AddQuery adds query model.name, answered by q, to what r serves: tests use
// it for queries the sample domains do not have.
func AddQuery(r *Reader, model, name string, q func(ctx context.Context, params json.RawMessage) (any, uint64, error)) {
	r.addQuery(model, name, q)
}
