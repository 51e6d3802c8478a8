package library_test

import (
	"testing"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/testkit"

	"example.com/library"
)

var (
	added = []any{library.BookAdded{Title: "Dune"}}
	lent  = []any{library.BookAdded{Title: "Dune"}, library.BookLent{Member: "ada", Title: "Dune"}}
)

// The book's decisions, without any server: a book is lent to one member at a
// time, and only a book on loan comes back.
func TestABookIsLentToOneMemberAtATime(t *testing.T) {
	testkit.RunAggregateCases(t, library.Definition(), []testkit.AggregateCase{
		{Name: "adds", Command: "add", Data: `{"title":"Dune"}`, Then: added},
		{Name: "refuses a book twice", Command: "add", Given: added, Data: `{"title":"Dune"}`, Error: aggregate.ErrExists},
		{Name: "refuses a book without a title", Command: "add", Data: `{}`, Error: aggregate.ErrInvalid, ErrorContains: "title is required"},
		{Name: "lends", Command: "lend", Given: added, Data: `{"member":"ada"}`, Then: []any{library.BookLent{Member: "ada", Title: "Dune"}}},
		{Name: "refuses a book on loan", Command: "lend", Given: lent, Data: `{"member":"bo"}`, Error: aggregate.ErrRejected, ErrorContains: `"Dune" is on loan to ada`},
		{Name: "refuses a member that is not an id", Command: "lend", Given: added, Data: `{"member":"a.b"}`, Error: aggregate.ErrInvalid, ErrorContains: "member:"},
		{Name: "refuses a missing book", Command: "lend", Data: `{"member":"ada"}`, Error: aggregate.ErrNotFound},
		{Name: "takes a book back from its borrower", Command: "return", Given: lent, Then: []any{library.BookReturned{Member: "ada"}}},
		{Name: "refuses a book on the shelf", Command: "return", Given: added, Error: aggregate.ErrRejected, ErrorContains: `"Dune" is not on loan`},
		{Name: "lends a returned book again", Command: "lend", Given: append(lent, library.BookReturned{Member: "ada"}), Data: `{"member":"bo"}`, Then: []any{library.BookLent{Member: "bo", Title: "Dune"}}},
	})
}

// The loans read model, against a real event store and Redis: a member's
// loans are the books lent to them and not returned, in id order.
func TestLoansListTheBooksAMemberHolds(t *testing.T) {
	loans := library.Queries()[0]
	testkit.Projection(t, library.Projection(), library.Events()).
		Given("book", "b-2", library.BookAdded{Title: "Emma"}, library.BookLent{Member: "ada", Title: "Emma"}).
		Given("book", "b-1", library.BookAdded{Title: "Dune"}, library.BookLent{Member: "ada", Title: "Dune"}).
		Given("book", "b-3", library.BookAdded{Title: "Ulysses"}, library.BookLent{Member: "ada", Title: "Ulysses"},
			library.BookReturned{Member: "ada"}, library.BookLent{Member: "bo", Title: "Ulysses"}).
		Then(loans, `{"member":"ada"}`, `[{"id":"b-1","title":"Dune"},{"id":"b-2","title":"Emma"}]`).
		Then(loans, `{"member":"bo"}`, `[{"id":"b-3","title":"Ulysses"}]`).
		Then(loans, `{"member":"cy"}`, `[]`)
}
