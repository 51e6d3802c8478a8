package user

import (
	"context"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// ProjectionName names the users read model.
const ProjectionName = "users"

// View is a user as queries answer it: never the password hash.
type View struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// Projection keeps user:<username> -> {id, username}; the password hash
// never reaches the read side.
func Projection() projections.Projection {
	return projections.Projection{Name: ProjectionName, Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		Apply: projections.Decoding(Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			if e, ok := e.(UserRegistered); ok {
				tx.HSet(ctx, tx.Keys.Key("user", e.Username), "id", ev.Ref.ID(), "username", e.Username)
			}
			return nil
		})}
}

// maxUsernameParam bounds the username parameter of user.get.
const maxUsernameParam = 64

// Queries are user.get {username}.
func Queries() []reader.Query {
	return []reader.Query{{Model: Type, Name: "get", Projection: ProjectionName,
		Params: []reader.Param{{Name: "username", Type: reader.String, Required: true, MaxLen: maxUsernameParam}},
		Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
			return Get(ctx, v, p.String("username"))
		}}}
}

// Get reads the user of username from a view of the users projection. The
// username is normalised as registration does (Ada finds ada).
func Get(ctx context.Context, v *projections.View, username string) (View, error) {
	username = Register{Username: username}.NormalizedUsername()
	h, err := v.HGetAll(ctx, v.Keys.Key("user", username))
	if err == nil && len(h) == 0 {
		err = projections.NotFound("user", username)
	}
	if err != nil {
		return View{}, err
	}
	return View{ID: h["id"], Username: h["username"]}, nil
}
