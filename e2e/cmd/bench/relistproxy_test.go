package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestRelistProxyExpiresOnlyWatchesFromBefore checks that after expire(rv)
// only watches resuming from an older resource version get 410 Gone: lists,
// watches from the relist's newer version and streaming initial lists pass.
func TestRelistProxyExpiresOnlyWatchesFromBefore(t *testing.T) {
	p, client := proxiedAPI(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream") })
	get := func(query string) int {
		t.Helper()
		resp, err := client.Get(p.clientConfig().Host + "/api/v1/services?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if got := get("watch=true&resourceVersion=5"); got != http.StatusOK {
		t.Fatalf("watch before expire: status %d, want 200", got)
	}
	p.expire(10)
	for query, want := range map[string]int{
		"watch=true&resourceVersion=5":                        http.StatusGone,
		"watch=1&resourceVersion=9":                           http.StatusGone,
		"watch=true&resourceVersion=10":                       http.StatusOK,
		"watch=true&resourceVersion=":                         http.StatusOK,
		"watch=true&resourceVersion=5&sendInitialEvents=true": http.StatusOK,
		"resourceVersion=5":                                   http.StatusOK,
		"limit=500":                                           http.StatusOK,
	} {
		if got := get(query); got != want {
			t.Errorf("%s after expire(10): status %d, want %d", query, got, want)
		}
	}
	if pr := p.progress(); pr.refused != 2 || pr.streamed != 1 || pr.lists != 2 {
		t.Errorf("progress: %s; want 2 refused, 1 streaming list, 2 lists", pr)
	}
}

// TestRelistProxyCutsLiveWatches checks that expire ends a watch being
// served, and counts it back once its client watches again.
func TestRelistProxyCutsLiveWatches(t *testing.T) {
	p, client := proxiedAPI(t, streaming)
	ended := watchUntilEnd(t, client, p.clientConfig().Host+"/api/v1/services?watch=true&resourceVersion=5")
	p.expire(10)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch still streams 5s after expire")
	}
	if pr := p.progress(); pr.cut != 1 || pr.back != 0 {
		t.Fatalf("after expire: %s; want 1 cut, 0 back", pr)
	}
	go func() {
		if resp, err := client.Get(p.clientConfig().Host + "/api/v1/services?watch=true&resourceVersion=10"); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.progress().back != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after a new watch: %s; want 1 back", p.progress())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRelistProxyHoldsDroppedWatchesUntilRelease checks that drop ends a
// watch cleanly (as the API server ends one whose timeout passed) without
// expiring anything, that its client's next watch
// reaches the API server only after release, and that the watch counts as
// back once the API server took it.
func TestRelistProxyHoldsDroppedWatchesUntilRelease(t *testing.T) {
	var upstream atomic.Int32 // watches that reached the API server
	p, client := proxiedAPI(t, func(w http.ResponseWriter, r *http.Request) { upstream.Add(1); streaming(w, r) })
	url := p.clientConfig().Host + "/api/v1/services?watch=true&resourceVersion=5"
	watch := func() (*http.Response, error) { return client.Get(url) }
	ended := watchUntilEnd(t, client, url)
	if n := p.drop(); n != 1 {
		t.Fatalf("drop ended %d watches, want 1", n)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("the dropped watch ended with %v; want the end of a watch whose timeout passed (none)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch still streams 5s after drop")
	}
	again := make(chan *http.Response, 1)
	go func() {
		if resp, err := watch(); err == nil {
			again <- resp
		}
	}()
	time.Sleep(200 * time.Millisecond)
	if n := upstream.Load(); n != 1 || p.watchingAgain() {
		t.Fatalf("held: %d watches reached the API server (want 1, the first), watching again %v (%s)", n, p.watchingAgain(), p.progress())
	}
	p.release()
	select {
	case resp := <-again:
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the watch from before drop: status %d, want 200 (drop expires nothing)", resp.StatusCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held watch not answered 5s after release")
	}
	if n := upstream.Load(); n != 2 || !p.watchingAgain() {
		t.Fatalf("released: %d watches reached the API server (want 2), watching again %v (%s)", n, p.watchingAgain(), p.progress())
	}
}

// TestRelistProxiesPassOnWhatEachClientAsks checks that the proxies of one
// API server reach it over connections of their own, and pass on each
// client's Accept-Encoding as it is (none asked, none asked for).
func TestRelistProxiesPassOnWhatEachClientAsks(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // the client's name -> remote address, Accept-Encoding
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Query().Get("client")] = r.RemoteAddr + " " + r.Header.Get("Accept-Encoding")
		mu.Unlock()
	}))
	api.EnableHTTP2 = true
	api.StartTLS()
	defer api.Close()
	up := &rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	var ps relistProxies
	defer ps.Close()
	for range 2 {
		p, err := newRelistProxy(up)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for i, gzip := range []bool{false, true} {
		cfg := ps[i].clientConfig()
		cfg.DisableCompression = !gzip
		client, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Get(fmt.Sprintf("%s/api/v1/services?client=%d", cfg.Host, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	addr0, enc0, _ := strings.Cut(seen["0"], " ")
	addr1, enc1, _ := strings.Cut(seen["1"], " ")
	mu.Unlock()
	if addr0 == addr1 {
		t.Errorf("both proxies reached the API server from %s: one connection", addr0)
	}
	if enc0 != "" || enc1 != "gzip" {
		t.Errorf("Accept-Encoding upstream: %q for a client that asked none, %q for one that asked gzip; want \"\" and \"gzip\"", enc0, enc1)
	}
}

// TestWatchKeyTellsWatchesOfOneResourceBySelector checks that a client's
// two watches of a resource with different label selectors (kubesvc's of
// EndpointSlices) count as two: each must be back before the other's order
// is taken for done.
func TestWatchKeyTellsWatchesOfOneResourceBySelector(t *testing.T) {
	get := func(url string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, url, nil)
		r.Header.Set("User-Agent", "coredns-kubesvc")
		return r
	}
	a := watchKey(get("/apis/discovery.k8s.io/v1/endpointslices?watch=true&labelSelector=a%3Db&resourceVersion=1"))
	b := watchKey(get("/apis/discovery.k8s.io/v1/endpointslices?watch=true&labelSelector=a%21%3Db&resourceVersion=1"))
	c := watchKey(get("/apis/discovery.k8s.io/v1/endpointslices?watch=true&labelSelector=a%3Db&resourceVersion=7"))
	if a == b {
		t.Errorf("two selectors, one key %q", a)
	}
	if a != c {
		t.Errorf("one watch resumed from another version: keys %q and %q, want one", a, c)
	}
}

// TestSwapWatchOrderRegistersTheOtherServerFirst checks swapWatchOrder
// against a stand-in API server: the old watches are all gone before a new
// one comes (a new watcher would take a freed slot), then the watch of the
// server registered second comes, then the other's.
func TestSwapWatchOrderRegistersTheOtherServerFirst(t *testing.T) {
	var mu sync.Mutex
	served := 0          // watches being served
	var arrived []string // "<client> <watches served when it came>"
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			mu.Lock()
			fmt.Fprintf(w, "# TYPE apiserver_longrunning_requests gauge\napiserver_longrunning_requests{resource=\"services\",verb=\"WATCH\"} %d\n", served)
			mu.Unlock()
			return
		}
		mu.Lock()
		arrived = append(arrived, fmt.Sprintf("%s %d", r.UserAgent(), served))
		served++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		time.Sleep(100 * time.Millisecond) // an API server lets go of a watcher a while after its client
		mu.Lock()
		served--
		mu.Unlock()
	}))
	defer api.Close()
	up := &rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &bench{ctx: ctx, watchOrder: [2]int{0, 1}}
	var err error
	if b.client, err = kubernetes.NewForConfig(up); err != nil {
		t.Fatal(err)
	}
	defer b.px.Close()
	for i := range 2 {
		p, err := newRelistProxy(up)
		if err != nil {
			t.Fatal(err)
		}
		b.px = append(b.px, p)
		cfg := p.clientConfig()
		cfg.UserAgent = fmt.Sprintf("server%d", i)
		client, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		go func() { // a reflector: watches again whenever a watch ends
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/api/v1/services?watch=true", nil)
				if resp, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := served
			mu.Unlock()
			if n == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server%d's watch not served after 5s", i)
			}
		}
	}
	mu.Lock()
	arrived = nil
	mu.Unlock()
	if err := b.swapWatchOrder(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(arrived)
	mu.Unlock()
	if want := []string{"server1 0", "server0 1"}; !slices.Equal(got, want) {
		t.Errorf("watches that came after the swap (client, watches then served): %q, want %q", got, want)
	}
	if b.watchOrder != [2]int{1, 0} {
		t.Errorf("watchOrder after the swap: %v, want [1 0]", b.watchOrder)
	}
}

// proxiedAPI is a relistProxy in front of a stand-in API server that
// serves with handler, and a client of the proxy, closed with the test.
func proxiedAPI(t *testing.T, handler http.HandlerFunc) (*relistProxy, *http.Client) {
	t.Helper()
	api := httptest.NewTLSServer(handler)
	t.Cleanup(api.Close)
	p, err := newRelistProxy(&rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	client, err := rest.HTTPClientFor(p.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p, client
}

// streaming answers as a watch: it streams until the client or proxy ends it.
func streaming(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// watchUntilEnd starts the watch url through client and gives how its
// stream ended (nil: as a watch whose timeout passed).
func watchUntilEnd(t *testing.T, client *http.Client, url string) <-chan error {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ended <- err
	}()
	return ended
}
