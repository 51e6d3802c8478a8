package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

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

// Projection keeps user:<username> -> {id, username}, and id:<id> ->
// username to find a user's keys when the user is forgotten; the password
// hash never reaches the read side. A forgotten user's keys are deleted
// (user.get answers 404), and a registration whose username reads as
// forgotten (a rebuild after the forget) writes nothing. It reads its own
// model (the username of a user being forgotten), so it sets ReadsModel:
// user events are few.
func Projection() projections.Projection {
	return projections.Projection{Name: ProjectionName, Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		ReadsModel: true,
		Apply: projections.Decoding(Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			byID := tx.Keys.Key("id", ev.Ref.ID())
			switch e := e.(type) {
			case UserRegistered:
				if e.Username == "" {
					return nil // forgotten
				}
				tx.HSet(ctx, tx.Keys.Key("user", e.Username), "id", ev.Ref.ID(), "username", e.Username)
				tx.Set(ctx, byID, e.Username, 0)
			case UserForgotten:
				username, err := tx.Read().Get(ctx, byID).Result()
				if errors.Is(err, redis.Nil) {
					return nil // never written, or forgotten before
				}
				if err != nil {
					return err
				}
				tx.Del(ctx, tx.Keys.Key("user", username), byID)
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
		// The answer does not repeat the username: it may be a forgotten
		// user's, and replies end up in logs.
		err = fmt.Errorf("%w: no user of that username", projections.ErrNotFound)
	}
	if err != nil {
		return View{}, err
	}
	return View{ID: h["id"], Username: h["username"]}, nil
}
