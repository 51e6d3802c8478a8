package reader

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestStopAndWaitWaitsForEveryQueryTakenAndRefusesLaterOnes: queries enter
// and leave from many goroutines while the reader stops; once stopAndWait
// returns, no query that entered is still in flight and none enters again.
func TestStopAndWaitWaitsForEveryQueryTakenAndRefusesLaterOnes(t *testing.T) {
	a := newAdmission()
	var (
		active  atomic.Int64
		stopped atomic.Bool
		late    atomic.Int64
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				wasStopped := stopped.Load()
				if !a.enter() {
					continue
				}
				if wasStopped {
					late.Add(1)
				}
				active.Add(1)
				active.Add(-1)
				a.leave()
			}
		}()
	}
	a.stopAndWait()
	stopped.Store(true)
	if n := active.Load(); n != 0 {
		t.Errorf("stopAndWait returned with %d queries in flight", n)
	}
	wg.Wait()
	if n := late.Load(); n != 0 {
		t.Errorf("%d queries entered after stopAndWait returned", n)
	}
	if a.enter() {
		t.Error("a query entered a stopped admission")
	}
}

// TestStopAndWaitWaitsForAQueryInFlight: stopAndWait returns only once the
// query taken before it has left.
func TestStopAndWaitWaitsForAQueryInFlight(t *testing.T) {
	a := newAdmission()
	if !a.enter() {
		t.Fatal("a fresh admission refused a query")
	}
	done := make(chan struct{})
	go func() {
		a.stopAndWait()
		close(done)
	}()
	for a.enter() { // until stopAndWait has stopped taking queries
		a.leave()
	}
	select {
	case <-done:
		t.Fatal("stopAndWait returned while a query was in flight")
	default:
	}
	a.leave()
	<-done
}
