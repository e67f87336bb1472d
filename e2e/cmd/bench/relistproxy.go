package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
)

// relistProxy is an HTTPS reverse proxy in front of the API server that the
// side-by-side servers watch through. It can do what an API server restart
// does to its clients' watches, without restarting the one the bench seeds
// (an envtest API server restarted in place gets a new CA and new client
// certificates): expire cuts every watch and answers each watch that tries
// to resume from before that point with 410 Gone, "too old resource
// version", as a restarted API server whose watch cache starts later does.
// client-go's reflectors then list everything again: with a LIST after the
// 410, or (client-go's streaming lists, which kubesvc and stock use) with a
// watch that sends every object first, which is how they resume any cut
// watch.
//
// It terminates TLS with its own certificate and talks to the API server as
// the admin, so the servers behind it need no credentials of their own.
type relistProxy struct {
	ln     net.Listener
	srv    *http.Server
	rp     *httputil.ReverseProxy
	caPEM  []byte
	served chan struct{}
	seen   *arrivals // when the Services watches passed on first carried each name looked for

	mu        sync.Mutex
	goneBelow int64              // resource versions below this are expired
	cutting   bool               // since expire or drop, until settle: note who watches again
	held      chan struct{}      // while not nil, new watches wait until it is closed (release)
	watches   map[*int]liveWatch // watches being served
	cut       map[string]bool    // watches cut by expire or drop, by watchKey
	back      map[string]bool    // of those, the ones the API server watches again
	refused   int                // watches answered 410 since expire
	streamed  int                // watches since expire that list first (sendInitialEvents)
	lists     int                // lists since expire
}

// liveWatch is a watch being served: who asks for what, and how to end it:
// cut short (cancel), as a broken connection or a restarted API server
// ends it, or ended (end), as the API server ends a watch whose timeout
// passed, which a reflector takes for routine and follows at once, with no
// back-off, from the version it got to.
type liveWatch struct {
	key    string
	cancel context.CancelFunc
	end    *watchEnd
}

// watchEnd ends a watch's response as if the API server had: its body,
// read through endingBody, comes to io.EOF.
type watchEnd struct {
	ended chan struct{}
	once  sync.Once
	mu    sync.Mutex
	body  io.Closer // the API server's response body, once it came
}

type watchEndKey struct{}

func (e *watchEnd) now() {
	e.once.Do(func() { close(e.ended) })
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.body != nil {
		_ = e.body.Close() // the read waiting for the API server returns
	}
}

// endingBody is a watch's response body that e ends.
type endingBody struct {
	io.ReadCloser
	e *watchEnd
}

func (b endingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	select {
	case <-b.e.ended:
		return n, io.EOF
	default:
		return n, err
	}
}

func newRelistProxy(admin *rest.Config) (*relistProxy, error) {
	upstream, err := url.Parse(admin.Host)
	if err != nil {
		return nil, err
	}
	// The proxy passes on what each client asks for: a transport that asks
	// for gzip itself (Go's default when the client does not) would have the
	// API server compress the streams of a client that asked for none
	// (kubesvc: setup.go) and the proxy decompress them, work on one
	// server's watch path that no API server does.
	up := rest.CopyConfig(admin)
	up.DisableCompression = true
	// A dialer of its own: client-go shares one transport, and so one
	// connection, between configs alike (its TLS transport cache).
	up.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	transport, err := rest.TransportFor(up)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &relistProxy{
		ln: ln, caPEM: certPEM, served: make(chan struct{}), seen: newArrivals(),
		watches: map[*int]liveWatch{}, cut: map[string]bool{}, back: map[string]bool{},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.Out.Host = upstream.Host
		},
		Transport:      transport,
		FlushInterval:  -1, // watch events as they come
		ErrorLog:       nil,
		ModifyResponse: p.watching,
	}
	p.srv = &http.Server{Handler: p, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() {
		defer close(p.served)
		if err := p.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("bench: relist proxy:", err)
		}
	}()
	return p, nil
}

// clientConfig is what a client of the proxy needs: its address and CA.
func (p *relistProxy) clientConfig() *rest.Config {
	return &rest.Config{Host: "https://" + p.ln.Addr().String(), TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM}}
}

func (p *relistProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := watchKey(r)
	if watch := q.Get("watch"); watch != "true" && watch != "1" {
		p.mu.Lock()
		if p.goneBelow > 0 {
			p.lists++
		}
		p.mu.Unlock()
		p.rp.ServeHTTP(w, r)
		return
	}
	rv, _ := strconv.ParseInt(q.Get("resourceVersion"), 10, 64)
	streaming := q.Get("sendInitialEvents") == "true"
	p.mu.Lock()
	for p.held != nil { // held (drop) until release; registered below under the same lock
		held := p.held
		p.mu.Unlock()
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
		p.mu.Lock()
	}
	// A watch that lists first (client-go's streaming list, which it also
	// resumes with) is served from any version not older than rv: an API
	// server with a fresh watch cache serves it too.
	if rv > 0 && rv < p.goneBelow && !streaming {
		p.refused++
		p.mu.Unlock()
		gone(w, rv)
		return
	}
	if p.goneBelow > 0 && streaming {
		p.streamed++
	}
	ctx, cancel := context.WithCancel(r.Context())
	end := &watchEnd{ended: make(chan struct{})}
	ctx = context.WithValue(ctx, watchEndKey{}, end)
	id := new(int)
	p.watches[id] = liveWatch{key: key, cancel: cancel, end: end}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.watches, id)
		p.mu.Unlock()
		cancel()
	}()
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// watching notes a watch the API server answered, and that is still served,
// as back: its watch cache sends the status once it has the watcher (and
// for a watcher that fails at once, which the servers' reflectors follow
// with another watch, noted again).
func (p *relistProxy) watching(resp *http.Response) error {
	if w := resp.Request.URL.Query().Get("watch"); (w != "true" && w != "1") || resp.StatusCode != http.StatusOK {
		return nil
	}
	if e, ok := resp.Request.Context().Value(watchEndKey{}).(*watchEnd); ok {
		e.mu.Lock()
		e.body = resp.Body
		e.mu.Unlock()
		resp.Body = endingBody{ReadCloser: resp.Body, e: e}
		select {
		case <-e.ended: // dropped before the API server answered
			_ = e.body.Close()
		default:
		}
	}
	if strings.HasSuffix(resp.Request.URL.Path, "/services") {
		resp.Body = newSpottingBody(resp.Body, p.seen, resp.Header.Get("Content-Encoding") == "gzip")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutting && resp.Request.Context().Err() == nil { // not cut since it was sent
		p.back[watchKey(resp.Request)] = true
	}
	return nil
}

// watchKey names a client's watch: who asks, for what, with which label
// selector (kubesvc watches EndpointSlices with two).
func watchKey(r *http.Request) string {
	return r.UserAgent() + " " + r.URL.Path + "?" + r.URL.Query().Get("labelSelector")
}

// gone answers as an API server does a watch from a resource version its
// watch cache no longer holds.
func gone(w http.ResponseWriter, rv int64) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusGone)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",`+
		`"message":"too old resource version: %d","reason":"Expired","code":410}`, rv)
}

// expire cuts every watch and expires every resource version below rv.
func (p *relistProxy) expire(rv int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.goneBelow = rv
	p.refused, p.streamed, p.lists = 0, 0, 0
	_ = p.cutLocked(false)
}

// drop ends every watch as the API server ends one whose timeout passed,
// and expires nothing: every client watches again from where it was, at
// once. Its new watches wait until release. It returns how many it ended.
func (p *relistProxy) drop() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = make(chan struct{})
	}
	return p.cutLocked(true)
}

// cutLocked ends every watch being served (routinely, or cut short), notes
// each as cut, and returns how many it ended.
func (p *relistProxy) cutLocked(routine bool) int {
	p.cutting = true
	clear(p.cut)
	clear(p.back)
	n := len(p.watches)
	for id, w := range p.watches {
		p.cut[w.key] = true
		if routine {
			w.end.now()
		} else {
			w.cancel()
		}
		delete(p.watches, id)
	}
	return n
}

// release lets the watches held since drop through.
func (p *relistProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

// watchingAgain reports whether every watch cut is back.
func (p *relistProxy) watchingAgain() bool { return p.progress().allBack() }

// relistProgress is what the clients did since expire.
type relistProgress struct {
	cut, back                int // watches cut; of those, watching again
	refused, streamed, lists int // 410s, streaming lists, lists
}

func (p *relistProxy) progress() relistProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := relistProgress{cut: len(p.cut), refused: p.refused, streamed: p.streamed, lists: p.lists}
	for k := range p.cut {
		if p.back[k] {
			pr.back++
		}
	}
	return pr
}

// allBack says whether watches were cut and every one is back.
func (pr relistProgress) allBack() bool { return pr.cut > 0 && pr.back == pr.cut }

func (pr relistProgress) String() string {
	return fmt.Sprintf("%d watches cut, %d back; %d resumes answered 410 Gone, %d streaming lists, %d lists",
		pr.cut, pr.back, pr.refused, pr.streamed, pr.lists)
}

// settle stops expiring, and noting who watches again.
func (p *relistProxy) settle() {
	p.mu.Lock()
	p.goneBelow, p.cutting = 0, false
	p.mu.Unlock()
}

func (p *relistProxy) Close() {
	_ = p.srv.Close()
	<-p.served
}

// relistProxies are one relistProxy per side-by-side server. A proxy
// shared by both would carry both servers' watches over one connection to
// the API server, read by one goroutine that wakes each server's handler
// in turn: the handler woken last runs first (the Go scheduler's runnext),
// so the event of whichever watch the API server wrote first reached its
// server a handler's work later. No API server couples two clients so.
type relistProxies []*relistProxy

func (ps relistProxies) expire(rv int64) {
	for _, p := range ps {
		p.expire(rv)
	}
}

func (ps relistProxies) settle() {
	for _, p := range ps {
		p.settle()
	}
}

// progress is what the clients of every proxy did since expire.
func (ps relistProxies) progress() relistProgress {
	var sum relistProgress
	for _, p := range ps {
		pr := p.progress()
		sum.cut, sum.back = sum.cut+pr.cut, sum.back+pr.back
		sum.refused, sum.streamed, sum.lists = sum.refused+pr.refused, sum.streamed+pr.streamed, sum.lists+pr.lists
	}
	return sum
}

func (ps relistProxies) Close() {
	for _, p := range ps {
		p.Close()
	}
}
