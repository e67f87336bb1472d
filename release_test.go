package kubesvc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuietIsUnderA32ndOfTheLiveHeap(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name             string
		lastPeriod, live uint64
		want             bool
	}{
		{"nothing allocated", 0, 40 * mb, true},
		{"under a 32nd of the live heap", mb + mb/4 - 1, 40 * mb, true},
		{"a 32nd of the live heap", mb + mb/4, 40 * mb, false},
		{"small heap: under the floor", 255 << 10, 1 * mb, true},
		{"small heap: the floor", 256 << 10, 1 * mb, false},
	} {
		if got := quiet(c.lastPeriod, c.live); got != c.want {
			t.Errorf("%s: quiet(%d, %d) = %v, want %v", c.name, c.lastPeriod, c.live, got, c.want)
		}
	}
}

func TestBurstEndedNeedsABusyPeriodAndTheLiveHeapAllocated(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name        string
		since, live uint64
		busy        bool
		want        bool
	}{
		{"the live heap allocated, a busy period", 40 * mb, 40 * mb, true, true},
		{"the live heap allocated, every period quiet (a trickle)", 80 * mb, 40 * mb, false, false},
		{"less than the live heap allocated", 40*mb - 1, 40 * mb, true, false},
		{"small heap: less than the floor allocated", 4*mb - 1, 1 * mb, true, false},
		{"small heap: the floor allocated", 4 * mb, 1 * mb, true, true},
	} {
		if got := burstEnded(c.since, c.live, c.busy); got != c.want {
			t.Errorf("%s: burstEnded(%d, %d, %v) = %v, want %v", c.name, c.since, c.live, c.busy, got, c.want)
		}
	}
}

// fakeRuntime is an allocation counter the test moves, and the returns a
// releaser made of it did.
type fakeRuntime struct {
	mu      sync.Mutex
	allocs  uint64
	live    uint64
	returns int
	reads   int
}

func (f *fakeRuntime) read() memSample {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return memSample{f.allocs, f.live}
}

func (f *fakeRuntime) free() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.returns++
	f.allocs += 1 << 10 // a collection allocates a little
}

func (f *fakeRuntime) alloc(n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allocs += n
}

func (f *fakeRuntime) counts() (returns, reads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.returns, f.reads
}

func (f *fakeRuntime) releaser(period time.Duration) *releaser {
	return &releaser{period: period, read: f.read, free: f.free}
}

func TestReleaserReturnsOnceAfterEachBurstEnds(t *testing.T) {
	const mb = 1 << 20
	f := &fakeRuntime{live: 10 * mb}
	r := f.releaser(time.Second)
	prev := f.read().allocs
	// Each period: bytes allocated in it, and the returns made by its end.
	for i, p := range []struct {
		alloc   uint64
		returns int
	}{
		{100 << 10, 0}, // quiet, nothing allocated to speak of
		{6 * mb, 0},    // a burst starts
		{6 * mb, 0},    // goes on: 12 MB allocated, more than the live heap
		{0, 1},         // ends: returned
		{0, 1},         // quiet: nothing more to return
		{200 << 10, 1}, // queries and a few changes
		{9 * mb, 1},    // a second burst, under the live heap so far
		{0, 1},         // a pause in it
		{2 * mb, 1},    // it goes on past the live heap
		{100 << 10, 2}, // quiet after it
		{300 * mb, 2},  // churn that never goes quiet
		{300 * mb, 2},
		{300 * mb, 2},
		{300 << 10, 3}, // until it does
	} {
		f.alloc(p.alloc)
		prev = r.step(prev)
		if got, _ := f.counts(); got != p.returns {
			t.Fatalf("period %d (%d bytes allocated): %d returns of memory, want %d", i, p.alloc, got, p.returns)
		}
	}
	// A trickle of changes, every period quiet, past the live heap: no
	// burst, nothing returned.
	for range 40 {
		f.alloc(300 << 10)
		prev = r.step(prev)
	}
	if got, _ := f.counts(); got != 3 {
		t.Errorf("a trickle of 40 quiet periods of 300 KiB (more than the live heap of 10 MiB): %d returns of memory, want still 3", got)
	}
}

func TestReleaserLoopRunsWhileAnyWatcherRuns(t *testing.T) {
	f := &fakeRuntime{live: 1 << 20}
	r := f.releaser(time.Millisecond)
	first, stopFirst := context.WithCancel(context.Background())
	second, stopSecond := context.WithCancel(context.Background())
	var users sync.WaitGroup
	users.Go(func() { r.during(first) })
	users.Go(func() { r.during(second) })
	waitFor(t, "the loop's first reads", func() bool { _, reads := f.counts(); return reads > 2 })
	f.alloc(8 << 20)
	waitFor(t, "a return after the burst", func() bool { returns, _ := f.counts(); return returns == 1 })

	stopFirst()
	_, reads := f.counts()
	waitFor(t, "reads after one of two watchers left", func() bool { _, now := f.counts(); return now > reads+2 })

	stopSecond()
	users.Wait() // the last to leave waits for the loop to stop
	_, reads = f.counts()
	time.Sleep(20 * time.Millisecond)
	if _, now := f.counts(); now != reads {
		t.Errorf("the loop read the runtime %d more times after every watcher left", now-reads)
	}

	var started atomic.Bool // and a watcher after that starts it again
	third, stopThird := context.WithCancel(context.Background())
	go func() { started.Store(true); r.during(third) }()
	waitFor(t, "reads after a watcher came back", func() bool { _, now := f.counts(); return started.Load() && now > reads+2 })
	stopThird()
}
