package kubesvc

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
)

// Busy resources' watches: the watches of a resource whose description says
// busy (EndpointSlices: every readiness change of every pod resends its
// whole slice) go over HTTP/1.1, a connection each, instead of being
// multiplexed with every other request on the one HTTP/2 connection
// client-go shares. Over HTTP/2 the client owes the server a WINDOW_UPDATE
// frame for every 4 KiB it reads (golang.org/x/net/http2's inflowMinRefresh,
// a constant): a TLS record and a write to the socket for nearly every
// slice change, whose loopback delivery the sender pays for. A flip in a
// 100-endpoint slice (about 10 KB) cost 13 % less CPU over HTTP/1.1, side by
// side with stock.
//
// HTTP/1.1 has no health check of its own: client-go pings an HTTP/2
// connection that has been silent for 30 s and drops it if the ping is not
// answered within 15 s. Bookmarks do not make up for it: the API server's
// watch cache sends one about every minute (k8s.io/apiserver cacher,
// defaultBookmarkFrequency) only to a watch whose resource version it has
// moved past, so while no EndpointSlice changes a healthy watch says
// nothing for as long as it lasts. But it does not last: a busy watch asks
// the server to end it after busyWatchTimeoutSeconds, which it does with
// the response's last chunk, leaving the connection to the next watch. So
// the body of a busy watch that has been silent for busyWatchIdle, past
// that end, is closed: the watch ends as a cut connection does, and the
// reflector watches again from the last resource version it saw, listing
// nothing.

// busyWatchTimeoutSeconds is the longest a busy watch asks to last
// (timeoutSeconds; reflectors ask for 5 to 10 minutes): a healthy one
// sends a byte, its end, at least that often. A watch again from its last
// version every 30 s costs the API server little (its watch cache).
const busyWatchTimeoutSeconds = 30

// busyWatchIdle is how long a busy watch may be silent before its
// connection is taken for dead: its timeout and a margin, as long as
// client-go takes to drop a dead HTTP/2 connection (a ping after 30 s of
// silence, 15 s to answer it).
const busyWatchIdle = 45 * time.Second

// busyWatchConfig is rc for busy resources' watches: HTTP/1.1 only (ALPN
// offers no h2, so client-go does not configure HTTP/2 either), sockets read
// without waking the runtime's monitor (rawread.go), each watch's body
// closed after idle without a byte.
func busyWatchConfig(rc *rest.Config, idle time.Duration) *rest.Config {
	c := rest.CopyConfig(rc)
	c.NextProtos = []string{"http/1.1"}
	c.Dial = rawReadDial(rc.Dial) // rawread.go
	// No rate limiter: a directWatch starts through Request.Stream
	// (client.go), which waits for the client's limiter (and reports the
	// wait in a metric stock does not export), where Request.Watch does not.
	c.RateLimiter, c.QPS = nil, -1
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return idleWatches{next: rt, idle: idle} })
	return c
}

// rawReadDial is dial with every connection's reads made raw where that is
// done (rawReads, rawread.go); dial nil is client-go's default dialer's.
func rawReadDial(dial func(ctx context.Context, network, address string) (net.Conn, error)) func(ctx context.Context, network, address string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return rawReads(conn), nil
	}
}

// contentTypeKey is the context key of where a watch's round trip keeps
// its response's Content-Type (a *string): a directWatch decodes by it,
// and Request.Stream hands over only the body.
type contentTypeKey struct{}

// idleWatches gives every watch's body the idle limit.
type idleWatches struct {
	next http.RoundTripper
	idle time.Duration
}

func (t idleWatches) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if p, ok := r.Context().Value(contentTypeKey{}).(*string); ok {
		*p = resp.Header.Get("Content-Type")
	}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	if w := r.URL.Query().Get("watch"); w != "true" && w != "1" {
		return resp, nil
	}
	resp.Body = newIdleBody(resp.Body, t.idle)
	return resp, nil
}

// idleBody is a watch's body that closes itself after idle without a byte.
// Its Read then fails with io.ErrUnexpectedEOF, which client-go's
// StreamWatcher takes for a cut stream: it closes the watch without an
// error event, and the reflector resumes.
type idleBody struct {
	io.ReadCloser
	idle   time.Duration
	timer  *time.Timer
	silent atomic.Bool // closed for idling
}

func newIdleBody(body io.ReadCloser, idle time.Duration) *idleBody {
	b := &idleBody{ReadCloser: body, idle: idle}
	b.timer = time.AfterFunc(idle, func() {
		b.silent.Store(true)
		_ = body.Close()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && b.silent.Load() {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}
