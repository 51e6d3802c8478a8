package process

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A message the server hands again while its first copy is held is
// dropped (the first copy is handled and acknowledged, by its stream
// sequence): an event never runs twice at once. Once released (its
// acknowledgement confirmed), a later delivery of it is held again.
func TestASecondCopyOfAHeldMessageIsDropped(t *testing.T) {
	s := &source{held: map[uint64]*held{}}
	first := s.hold(nil, 7)
	assert.NotNil(t, first)
	assert.Nil(t, s.hold(nil, 7), "handed again while held")
	assert.NotNil(t, s.hold(nil, 3))
	assert.Equal(t, []uint64{3, 7}, seqs(s.inOrder()), "in stream order")
	s.release(7)
	assert.NotNil(t, s.hold(nil, 7), "delivered again after its release")
}

// An instance always goes to the same lane, and a lane hands its messages
// out in the order they came.
func TestALaneKeepsTheOrderOfItsInstances(t *testing.T) {
	assert.Equal(t, laneOf("transfer.t1", 32), laneOf("transfer.t1", 32))
	l := newLane()
	for seq := uint64(1); seq <= 3; seq++ {
		l.push(&held{seq: seq})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []uint64
	for range 3 {
		h, ok := l.pop(ctx)
		assert.True(t, ok)
		got = append(got, h.seq)
	}
	assert.Equal(t, []uint64{1, 2, 3}, got)
	cancel()
	_, ok := l.pop(ctx)
	assert.False(t, ok, "a stopped worker takes nothing more")
}

func seqs(hs []*held) []uint64 {
	out := make([]uint64, len(hs))
	for i, h := range hs {
		out[i] = h.seq
	}
	return out
}
