package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"slices"
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
// A gzip-encoded response is looked through as it is inflated beside the
// stream (inflater): the API server compresses a large streaming list
// (sendInitialEvents) for a client that accepts gzip (stock, not kubesvc),
// and that watch goes on carrying the creates. take waits (a little) for
// the inflaters to look through what they were fed.

// arrivals are the names a proxy looks for in the Services watches it
// passes on, and when each first came by (zero: not yet).
type arrivals struct {
	pending atomic.Int32 // names not seen yet: reads look only while some are
	mu      sync.Mutex
	want    map[string]time.Time
	longest int // the longest name looked for: what a read keeps of its end
	// fed and looked count the chunks of gzip-encoded streams handed to
	// inflaters and those they have looked through.
	fed, looked atomic.Int64
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
// looking out for it. It waits up to inflateWait for the inflaters to look
// through every chunk they were fed before it.
func (a *arrivals) take(name string) (time.Time, bool) {
	fed, deadline := a.fed.Load(), time.Now().Add(inflateWait)
	for a.looked.Load() < fed && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
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

// inflateWait is how long take waits for the inflaters: far longer than
// inflating a chunk takes, far shorter than the 10 s a create is given.
const inflateWait = 50 * time.Millisecond

// spot looks through b, read at at after the bytes whose end is tail, and
// returns the new tail: as much of the end of tail and b as a name cut in
// two could have begun in.
func (a *arrivals) spot(tail, b []byte, at time.Time) []byte {
	if len(b) == 0 {
		return tail // (0, nil) is a read too: the tail waits for the next
	}
	if a.pending.Load() == 0 {
		return tail[:0] // a name looked for comes after expect: in a later read
	}
	all := make([]byte, 0, len(tail)+len(b))
	all = append(append(all, tail...), b...)
	a.look(all, at)
	a.mu.Lock()
	keep := min(len(all), max(a.longest-1, 0))
	a.mu.Unlock()
	return append(tail[:0], all[len(all)-keep:]...)
}

// spottingBody is a watch response's body that a looks through as it is
// read: the time of the read that completes a name is the name's arrival.
// tail is the end of the bytes read before, so that a name the stream cut
// in two is found too. A gzip-encoded body is passed on as it comes and
// looked through by its inflater.
type spottingBody struct {
	io.ReadCloser
	a    *arrivals
	tail []byte
	gz   *inflater
}

// newSpottingBody is body looked through by a; gzipped says that it is
// gzip-encoded (its Content-Encoding).
func newSpottingBody(body io.ReadCloser, a *arrivals, gzipped bool) *spottingBody {
	s := &spottingBody{ReadCloser: body, a: a}
	if gzipped {
		s.gz = newInflater(a)
	}
	return s
}

func (s *spottingBody) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	at := time.Now()
	if s.gz == nil {
		s.tail = s.a.spot(s.tail, p[:n], at)
		return n, err
	}
	if n > 0 {
		s.gz.feed(slices.Clone(p[:n]), at)
	}
	if err != nil {
		s.gz.end()
	}
	return n, err
}

func (s *spottingBody) Close() error {
	if s.gz != nil {
		s.gz.end()
	}
	return s.ReadCloser.Close()
}

// inflater inflates a copy of a gzip-encoded stream in a goroutine of its
// own, so that the stream is passed on while the inflater keeps up (it
// queues 256 chunks), and looks through what comes out. A name's arrival
// is the time of the read of the chunk whose inflating gave its last byte.
// The API server writes each flush of a watch (its events queued then) as
// a gzip member of its own, closed (apiserver's perFlushGzipWriter), so an
// event comes out of the chunk that ends its member: the members are read
// as one stream (gzip.Reader's multistream). The inflater is the gzip
// reader's io.ByteReader, so no buffer reads ahead of it: a chunk is
// looked through (arrivals.looked) once the next one is asked for.
type inflater struct {
	mu     sync.Mutex // feed against end: a body may be closed while read
	ended  bool
	chunks chan timedChunk
	done   chan struct{} // closed once the goroutine has returned
	a      *arrivals
	// cur, rest and held are the goroutine's: the time of the chunk being
	// inflated, what is left of it, and whether there is one.
	cur  time.Time
	rest []byte
	held bool
}

type timedChunk struct {
	b  []byte
	at time.Time
}

func newInflater(a *arrivals) *inflater {
	g := &inflater{chunks: make(chan timedChunk, 256), done: make(chan struct{}), a: a}
	go g.run()
	return g
}

// feed hands the inflater the next chunk of the stream, read at at; after
// end, nothing.
func (g *inflater) feed(b []byte, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ended {
		g.a.fed.Add(1)
		g.chunks <- timedChunk{b, at}
	}
}

// end says that the stream has ended (or was closed); a second end does
// nothing.
func (g *inflater) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ended {
		g.ended = true
		close(g.chunks)
	}
}

// next takes the next chunk fed, the one before looked through; false at
// the stream's end.
func (g *inflater) next() bool {
	if g.held {
		g.a.looked.Add(1)
		g.held = false
	}
	c, ok := <-g.chunks
	if ok {
		g.rest, g.cur, g.held = c.b, c.at, true
	}
	return ok
}

// Read and ReadByte are the stream as fed, for the gzip reader.
func (g *inflater) Read(p []byte) (int, error) {
	if len(g.rest) == 0 && !g.next() {
		return 0, io.EOF
	}
	n := copy(p, g.rest)
	g.rest = g.rest[n:]
	return n, nil
}

func (g *inflater) ReadByte() (byte, error) {
	for len(g.rest) == 0 {
		if !g.next() {
			return 0, io.EOF
		}
	}
	b := g.rest[0]
	g.rest = g.rest[1:]
	return b, nil
}

func (g *inflater) run() {
	defer close(g.done)
	defer func() {
		for g.next() { // a stream that is not gzip after all, or cut: feed must not block
		}
	}()
	zr, err := gzip.NewReader(g)
	if err != nil {
		return
	}
	out := make([]byte, 32<<10)
	var tail []byte
	for {
		n, err := zr.Read(out)
		tail = g.a.spot(tail, out[:n], g.cur)
		if err != nil {
			return
		}
	}
}
