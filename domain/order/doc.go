// Package order is the sample order aggregate: the lines of an order, each an
// item id and a quantity, kept in the order they were added and rebuilt from
// the order's events.
//
// Commands (subject cmd.order.<command>, data in braces):
//
//	place                                creates the order      -> OrderPlaced
//	add_item        {item_id, quantity}  adds a line            -> OrderItemAdded {item_id, quantity}
//	remove_item     {item_id}            removes a line         -> OrderItemRemoved {item_id}
//	change_quantity {item_id, quantity}  sets a line's quantity -> OrderItemQuantityChanged {item_id, quantity}
//
// Invariants, checked by the commands (Evolve, which folds facts already
// stored, never refuses anything):
//
//   - item_id matches [A-Za-z0-9_-]{1,128} and quantity is a positive
//     integer (aggregate.ErrInvalid); the strict JSON decoding already refuses
//     fractions, strings and numbers beyond int64;
//   - an item is in the order at most once: adding it again is
//     aggregate.ErrRejected, use change_quantity instead;
//   - only an item in the order can be removed or changed ("unknown item",
//     aggregate.ErrRejected);
//   - an order holds at most MaxItems distinct items (aggregate.ErrRejected).
//
// Every command but place needs an existing order (aggregate.ErrNotFound),
// and place needs a new one (aggregate.ErrExists).
//
// The seed's example: place; add_item 9a37×3; add_item c52a×1; remove_item
// c52a; add_item a974×10; change_quantity 9a37→5 leaves the items 9a37×5,
// a974×10.
package order
