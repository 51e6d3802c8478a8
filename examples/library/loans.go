package library

import (
	"context"
	"maps"
	"slices"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// Projection keeps the loans read model: a hash per member (loans:<member>)
// from the id of each book they hold to its title. Its writes are blind (no
// read in Apply), the projection's fast path.
func Projection() projections.Projection {
	return projections.Projection{Name: "loans", Subjects: []string{"events.book.>"},
		Apply: projections.Decoding(Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			switch e := e.(type) {
			case BookLent:
				tx.HSet(ctx, tx.Keys.Key("loans", e.Member), ev.Ref.ID(), e.Title)
			case BookReturned:
				tx.HDel(ctx, tx.Keys.Key("loans", e.Member), ev.Ref.ID())
			}
			return nil
		})}
}

// Loan is a book on loan, as the loans query answers it.
type Loan struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Queries are library.loans {member}: the books a member has on loan, in id
// order.
func Queries() []reader.Query {
	return []reader.Query{{Model: "library", Name: "loans", Projection: "loans",
		Params: []reader.Param{{Name: "member", Type: reader.String, Required: true, ID: true}},
		Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
			held, err := v.HGetAll(ctx, v.Keys.Key("loans", p.String("member")))
			loans := []Loan{}
			for _, id := range slices.Sorted(maps.Keys(held)) {
				loans = append(loans, Loan{ID: id, Title: held[id]})
			}
			return loans, err
		}}}
}
