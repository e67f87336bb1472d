package main

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Arrivals. A create's programming latency, from the API write to the
// first correct answer, has two parts: the API server's (its commit, its
// watch cache's fan-out) and each server's own (its read, decode and
// publish, and the wait for the next poll). Each server's proxy notes when
// the watch response it passes on first carries a created service's name,
// which tells the parts apart: from there to the answer is the server's
// own, with the proxy's forwarding, which is as the API server's own
// (HTTP/2 to stock, HTTP/1.1 to kubesvc). Under the churn, on 2 cores, most
// of the latency and its tail turned out to be past the proxy (README).
// A name in a gzip-encoded response is not seen: the API server compresses
// a large streaming list (sendInitialEvents) for a client that accepts gzip
// (stock, not kubesvc), and until that watch ends its creates count as
// "not seen" (0 in the 5,000-service runs; 13 of 25 at 600 in -quick).

// arrivals are the names a proxy looks for in the Services watches it
// passes on, and when each first came by (zero: not yet).
type arrivals struct {
	pending atomic.Int32 // names not seen yet: reads look only while some are
	mu      sync.Mutex
	want    map[string]time.Time
	longest int // the longest name looked for: what a read keeps of its end
}

func newArrivals() *arrivals { return &arrivals{want: map[string]time.Time{}} }

// expect has a look out for name from now on. Call it before the write
// that makes the API server send it.
func (a *arrivals) expect(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.want[name]; !ok {
		a.want[name] = time.Time{}
		a.pending.Add(1)
		a.longest = max(a.longest, len(name))
	}
}

// take returns when name first came by (false: it has not) and stops
// looking out for it.
func (a *arrivals) take(name string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.want[name]
	if !ok {
		return time.Time{}, false
	}
	delete(a.want, name)
	if at.IsZero() {
		a.pending.Add(-1)
		return at, false
	}
	return at, true
}

// look notes at as the arrival of every name looked for that b holds.
func (a *arrivals) look(b []byte, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, seen := range a.want {
		if seen.IsZero() && bytes.Contains(b, []byte(name)) {
			a.want[name] = at
			a.pending.Add(-1)
		}
	}
}

// spottingBody is a watch response's body that a looks through as it is
// read: the time of the read that completes a name is the name's arrival.
// tail is the end of the bytes read before, so that a name the stream cut
// in two is found too.
type spottingBody struct {
	io.ReadCloser
	a    *arrivals
	tail []byte
}

func (s *spottingBody) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	if s.a.pending.Load() == 0 {
		s.tail = s.tail[:0] // a name looked for comes after expect: in a later read
		return n, err
	}
	if n == 0 {
		return n, err // (0, nil) is a read too: the tail waits for the next
	}
	at := time.Now()
	b := make([]byte, 0, len(s.tail)+n)
	b = append(append(b, s.tail...), p[:n]...)
	s.a.look(b, at)
	s.a.mu.Lock()
	keep := min(len(b), max(s.a.longest-1, 0))
	s.a.mu.Unlock()
	s.tail = append(s.tail[:0], b[len(b)-keep:]...)
	return n, err
}
