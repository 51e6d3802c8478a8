package testkit_test

import (
	"context"
	"testing"

	"github.com/jetsource/jetsource/testkit"
)

func TestRedisRestartsEmptyOnTheSameAddressAfterKill(t *testing.T) {
	r := testkit.StartRedis(t)
	c := r.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after Restart: EXISTS k = %d, %v; want 0, nil (an empty server at the same address)", n, err)
	}
	if err := r.Restart(); err == nil {
		t.Fatal("Restart of a running server: want an error")
	}
}
