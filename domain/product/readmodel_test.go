package product_test

import (
	"testing"

	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/testkit"
)

// "All products with fewer than 10 in stock": the query an event log cannot
// answer, lowest stock first, zero included.
func TestLowStockListsProductsBelowTheBoundLowestFirst(t *testing.T) {
	lowStock := product.Queries()[1]
	testkit.Projection(t, product.Projection(), product.Events()).
		Given("product", "p1", product.ProductRegistered{Name: "pen"}, product.StockReceived{Quantity: 20}, product.StockRemoved{Quantity: 15}).
		Given("product", "p2", product.ProductRegistered{Name: "ink"}).
		Given("product", "p3", product.ProductRegistered{Name: "pad"}, product.StockReceived{Quantity: 12}).
		Then(lowStock, `{"below":10}`, `[{"id":"p2","name":"ink","stock":0,"version":1},{"id":"p1","name":"pen","stock":5,"version":3}]`).
		Then(lowStock, `{"below":10,"limit":1}`, `[{"id":"p2","name":"ink","stock":0,"version":1}]`)
}
