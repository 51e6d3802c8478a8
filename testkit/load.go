package testkit

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Load runs total calls of do spread over clients goroutines (do gets the
// client index and the call index) and returns the elapsed time and every
// call's latency, sorted. It stops at the first error.
func Load(clients, total int, do func(client, i int) error) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				t0 := time.Now()
				if err := do(c, i); err != nil {
					failed.Store(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	err, _ := failed.Load().(error)
	return elapsed, all, err
}

// Percentile returns the q-quantile (0..1) of sorted latencies in
// microseconds.
func Percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(float64(len(sorted)-1)*q)].Microseconds())
}
