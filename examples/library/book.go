// Package library is an example of a domain built on jetsource from a module
// of its own: books that members borrow and bring back. It holds the book
// aggregate (book.go) and the loans read model with its query (loans.go);
// cmd/library runs it.
package library

import (
	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/streams"
)

// Type is the aggregate type: commands on cmd.book.<command>, events on
// events.book.<id>.
const Type = "book"

// Book is a book as its events left it; Borrower is "" while it is on the
// shelf.
type Book struct{ Title, Borrower string }

// BookAdded records that a book joined the library.
type BookAdded struct {
	Title string `json:"title"`
}

// BookLent records that a member borrowed the book (its title too, for the
// read side).
type BookLent struct {
	Member string `json:"member"`
	Title  string `json:"title"`
}

// BookReturned records that the member who borrowed the book brought it back.
type BookReturned struct {
	Member string `json:"member"`
}

// Add is the data of the add command.
type Add struct {
	Title string `json:"title"`
}

// Lend is the data of the lend command.
type Lend struct {
	Member string `json:"member"`
}

// Validate is called by the platform after strict decoding: an error is a 400.
func (c Add) Validate() error {
	if c.Title == "" {
		return aggregate.Invalid("title is required")
	}
	return nil
}

// Validate checks that the member is an id, as the loans query takes it.
func (c Lend) Validate() error {
	if err := streams.ValidateID(c.Member); err != nil {
		return aggregate.Invalid("member: %v", err)
	}
	return nil
}

// Events returns a registry of the book's event types.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[BookAdded](r, "BookAdded")
	codec.Register[BookLent](r, "BookLent")
	codec.Register[BookReturned](r, "BookReturned")
	return r
}

// Definition is the book aggregate: what each command decides from the state.
func Definition() aggregate.Definition[Book] {
	return aggregate.Definition[Book]{Type: Type, Events: Events(), Evolve: evolve,
		Commands: map[string]aggregate.Command[Book]{
			"add": aggregate.Create[Book](func(c Add) ([]any, error) { return []any{BookAdded(c)}, nil }),
			"lend": aggregate.Handle(func(b Book, c Lend) ([]any, error) {
				if b.Borrower != "" {
					return nil, aggregate.Rejected("%q is on loan to %s", b.Title, b.Borrower)
				}
				return []any{BookLent{Member: c.Member, Title: b.Title}}, nil
			}),
			"return": aggregate.Handle(func(b Book, _ struct{}) ([]any, error) {
				if b.Borrower == "" {
					return nil, aggregate.Rejected("%q is not on loan", b.Title)
				}
				return []any{BookReturned{Member: b.Borrower}}, nil
			}),
		}}
}

// evolve folds one event into the state; it never refuses a recorded fact.
func evolve(b Book, event any) Book {
	switch e := event.(type) {
	case BookAdded:
		b.Title = e.Title
	case BookLent:
		b.Borrower = e.Member
	case BookReturned:
		b.Borrower = ""
	}
	return b
}
