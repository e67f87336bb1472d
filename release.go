package kubesvc

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Returning memory after a burst of change.
//
// Go's collector sets its next goal at twice the heap it last marked live,
// and its scavenger keeps about that much resident. A burst of change (a
// relist after the API server restarted, thousands of services created at
// once, a rolling restart) marks its transient garbage live at the
// collections it runs into, so the goal, and the resident memory, stay at
// the burst's height long after it ends: a quiet server runs no collection
// to lower them, until the runtime forces one (every two minutes), and
// then gives the pages back slowly. The releaser does after a burst what
// the watcher does after the first sync (informers.go): a collection, and
// every free page back to the OS (debug.FreeOSMemory).
//
// The releaser reads the runtime every releasePeriod. A period is quiet if
// it allocated less than a 32nd of the live heap (and quietFloor). A burst
// is at least as many bytes allocated since memory was last returned as
// the live heap (and burstFloor), in periods not all quiet: the collection
// a return costs is then one the pacer would have run anyway. It ends with
// a quiet period; a burst still going would take the pages back at once.
// Queries allocate nothing (plugin.go), so a server answering at full load
// and changing nothing is quiet; one that keeps changing never is, and a
// trickle of changes, every period quiet, makes no burst: both keep the
// collector's steady pace.
// (The heap's own figures cannot say when a return is worth it: the live
// heap last marked includes the burst's transient garbage, and a heap that
// churned keeps room in its spans that no collection frees.)
const (
	releasePeriod = time.Second
	burstFloor    = 4 << 20
	quietFloor    = 256 << 10
)

// memSample is what the releaser reads of the runtime, in bytes: allocated
// since the process started, and the heap marked live by the last
// collection.
type memSample struct{ allocs, live uint64 }

func readMemory() memSample {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return memSample{allocs: s[0].Value.Uint64(), live: s[1].Value.Uint64()}
}

// quiet says whether a period that allocated lastPeriod bytes was quiet
// for a live heap of live bytes.
func quiet(lastPeriod, live uint64) bool { return lastPeriod < max(live/32, quietFloor) }

// burstEnded says whether to return memory after a quiet period:
// sinceReturn bytes allocated since it last was, for a live heap of live
// bytes, and busy if a period since was not quiet.
func burstEnded(sinceReturn, live uint64, busy bool) bool {
	return busy && sinceReturn >= max(live, burstFloor)
}

// releaser returns memory to the OS after bursts while any watcher runs;
// memory is the process's one.
type releaser struct {
	period time.Duration
	read   func() memSample
	free   func()

	mu       sync.Mutex
	allocsAt uint64 // allocs when memory was last returned
	busy     bool   // a period since was not quiet
	users    int
	stop     chan struct{} // closed to stop the running loop
	stopped  chan struct{} // closed once it stopped
}

var memory = &releaser{period: releasePeriod, read: readMemory, free: debug.FreeOSMemory}

// returnNow collects the garbage and returns every free page to the OS,
// and gives the bytes allocated by then.
func (r *releaser) returnNow() uint64 {
	r.free()
	s := r.read()
	r.mu.Lock()
	r.allocsAt, r.busy = s.allocs, false
	r.mu.Unlock()
	memoryReturns.Inc()
	return s.allocs
}

// during runs r until ctx is done: the first of the process's watchers to
// call it starts the loop, the last to leave stops it.
func (r *releaser) during(ctx context.Context) {
	r.mu.Lock()
	if r.users++; r.users == 1 {
		r.stop, r.stopped = make(chan struct{}), make(chan struct{})
		go r.loop(r.stop, r.stopped)
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.users--
	stop, stopped := r.stop, r.stopped
	if r.users > 0 {
		stop = nil
	}
	r.mu.Unlock()
	if stop != nil { // outside the lock: the loop takes it
		close(stop)
		<-stopped
	}
}

func (r *releaser) loop(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(r.period)
	defer t.Stop()
	prev := r.read().allocs
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			prev = r.step(prev)
		}
	}
}

// step returns memory if a burst ended in the period since allocations
// stood at prev, and gives where they stand now.
func (r *releaser) step(prev uint64) uint64 {
	s := r.read()
	q := quiet(s.allocs-prev, s.live)
	r.mu.Lock()
	r.busy = r.busy || !q
	since := s.allocs - min(r.allocsAt, s.allocs) // memory may have been returned since s was read
	due := q && burstEnded(since, s.live, r.busy)
	r.mu.Unlock()
	if !due {
		return s.allocs
	}
	return r.returnNow()
}
