package writer

import "container/list"

// aggCache is one worker's cache of recently used aggregates, least recently
// used first out. A worker owns its cache alone (aggregates are sharded to
// workers), so it needs no lock. A stale entry is harmless: the append's
// concurrency check refuses it and the aggregate is reloaded.
type aggCache struct {
	max   int
	order *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key   string
	value any
}

func newAggCache(max int) *aggCache {
	return &aggCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (c *aggCache) get(key string) (any, bool) {
	if c.max <= 0 {
		return nil, false
	}
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).value, true
}

func (c *aggCache) put(key string, v any) {
	if c.max <= 0 {
		return
	}
	if e, ok := c.items[key]; ok {
		e.Value.(*cacheEntry).value = v
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, value: v})
	if c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}

func (c *aggCache) drop(key string) {
	if e, ok := c.items[key]; ok {
		c.order.Remove(e)
		delete(c.items, key)
	}
}
