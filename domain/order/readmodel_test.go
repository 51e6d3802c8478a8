package order_test

import (
	"testing"

	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/testkit"
)

// The seed's own example reads back as items 9a37×5, a974×10, in the order
// they were added.
func TestSeedOrderReadsBackThroughItsQuery(t *testing.T) {
	get := order.Queries()[0]
	testkit.Projection(t, order.Projection(), order.Events()).
		Given("order", "7dd8",
			order.OrderPlaced{},
			order.OrderItemAdded{ItemID: "9a37", Quantity: 3},
			order.OrderItemAdded{ItemID: "c52a", Quantity: 1},
			order.OrderItemRemoved{ItemID: "c52a"},
			order.OrderItemAdded{ItemID: "a974", Quantity: 10},
			order.OrderItemQuantityChanged{ItemID: "9a37", Quantity: 5}).
		Then(get, `{"id":"7dd8"}`, `{"id":"7dd8","items":[{"item_id":"9a37","quantity":5},{"item_id":"a974","quantity":10}],"version":6}`).
		ThenError(get, `{"id":"nope"}`, projections.ErrNotFound)
}
