// Package product is the sample product aggregate: a named product and the
// number of units in stock, rebuilt from the product's events.
//
// Commands (subject cmd.product.<command>, data in braces):
//
//	register      {name}      creates the product -> ProductRegistered {name}
//	receive_stock {quantity}  adds units          -> StockReceived {quantity}
//	remove_stock  {quantity}  takes units out     -> StockRemoved {quantity}
//
// Invariants, checked by the commands (Evolve, which folds facts already
// stored, never refuses anything):
//
//   - name is present, not blank, valid UTF-8, at most MaxNameLength
//     characters and free of control characters (aggregate.ErrInvalid);
//   - quantity is a positive integer (aggregate.ErrInvalid); the strict JSON
//     decoding already refuses fractions, strings and numbers beyond int64;
//   - stock never goes negative ("insufficient stock", aggregate.ErrRejected)
//     and a receipt that would overflow it is aggregate.ErrRejected.
//
// Every command but register needs an existing product
// (aggregate.ErrNotFound), and register needs a new one (aggregate.ErrExists).
package product
