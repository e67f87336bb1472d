package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"k8s.io/client-go/rest"
)

func TestArrivalsSpotANameCutAcrossReads(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0042-0")
	stream := "\x0a\x05ADDED\x12\x40k8s\x00churn-0041-0 ... churn-0042-0\x1a\x09default" // the name cut by one-byte reads
	before := time.Now()
	body := newSpottingBody(io.NopCloser(iotest.OneByteReader(strings.NewReader(stream))), a, false)
	if _, err := io.ReadAll(body); err != nil {
		t.Fatal(err)
	}
	at, ok := a.take("churn-0042-0")
	if !ok || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("take after a stream holding the name read a byte at a time = %v, %t; want a time during the read", at, ok)
	}
	if _, ok := a.take("churn-0042-0"); ok {
		t.Errorf("a name taken is still looked for")
	}
	if n := a.pending.Load(); n != 0 {
		t.Errorf("%d names pending after the only one was seen and taken", n)
	}
}

func TestArrivalsDoNotSeeANameThatDidNotComeBy(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0007-0")
	a.expect("churn-0070-0")
	body := newSpottingBody(io.NopCloser(strings.NewReader("churn-0007-1 churn-0070-0")), a, false)
	if _, err := io.ReadAll(body); err != nil {
		t.Fatal(err)
	}
	if at, ok := a.take("churn-0007-0"); ok {
		t.Errorf("churn-0007-0 seen at %v in a stream that holds only churn-0007-1 and churn-0070-0", at)
	}
	if _, ok := a.take("churn-0070-0"); !ok {
		t.Errorf("churn-0070-0 not seen in a stream that holds it")
	}
	if n := a.pending.Load(); n != 0 {
		t.Errorf("%d names pending after both were taken", n)
	}
}

// TestProxyNotesWhenItsServicesWatchCarriedAName checks that the proxy
// looks through the watches of Services it passes on, and only those.
func TestProxyNotesWhenItsServicesWatchCarriedAName(t *testing.T) {
	p, client := proxiedAPI(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ADDED churn-0001-0") })
	p.seen.expect("churn-0001-0")
	get := func(path string) {
		t.Helper()
		resp, err := client.Get(p.clientConfig().Host + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	get("/apis/discovery.k8s.io/v1/endpointslices?watch=true")
	get("/api/v1/services?limit=500")
	if at, ok := p.seen.take("churn-0001-0"); ok {
		t.Fatalf("name seen at %v through a watch of EndpointSlices and a list of Services; want only a Services watch looked through", at)
	}
	p.seen.expect("churn-0001-0")
	get("/api/v1/services?watch=true")
	if _, ok := p.seen.take("churn-0001-0"); !ok {
		t.Errorf("the name went by in a watch of Services and was not seen")
	}
}

// chunks reads as its strings, one a read, an empty one as (0, nil).
type chunks []string

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	*c = (*c)[1:]
	return n, nil
}

func TestArrivalsKeepTheTailOverAnEmptyRead(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0042-0")
	body := newSpottingBody(io.NopCloser(&chunks{"xx churn-00", "", "42-0 yy"}), a, false)
	if _, err := io.ReadAll(body); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.take("churn-0042-0"); !ok {
		t.Errorf("a name cut by an empty read between its halves was not seen")
	}
}

// gzipEvents is events gzip-encoded as the API server encodes a watch
// (apiserver's perFlushGzipWriter): each flush, here each event, a gzip
// member of its own, flushed and closed; the stream cut after each.
func gzipEvents(t *testing.T, events ...string) []string {
	t.Helper()
	var cut []string
	for _, ev := range events {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := io.WriteString(zw, ev); err != nil {
			t.Fatal(err)
		}
		if err := zw.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		cut = append(cut, buf.String())
	}
	return cut
}

func TestArrivalsSeeANameInAGzipEncodedWatchWhenItsChunkIsRead(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0042-0")
	stream := gzipEvents(t, `{"type":"ADDED","object":{"metadata":{"name":"churn-0041-0"}}}`,
		`{"type":"ADDED","object":{"metadata":{"name":"churn-0042-0"}}}`)
	pr, pw := io.Pipe()
	body := newSpottingBody(pr, a, true)
	var passed bytes.Buffer
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(&passed, body)
		read <- err
	}()
	if _, err := io.WriteString(pw, stream[0]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the first event inflated alone
	before := time.Now()
	for _, c := range stream[1:] {
		if _, err := io.WriteString(pw, c); err != nil {
			t.Fatal(err)
		}
	}
	pw.Close()
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	body.Close()
	<-body.gz.done
	if got := passed.String(); got != strings.Join(stream, "") {
		t.Errorf("the body passed on %d bytes, not the %d of the gzip stream", len(got), len(strings.Join(stream, "")))
	}
	at, ok := a.take("churn-0042-0")
	if !ok || at.Before(before) {
		t.Errorf("take after a gzip stream that carried the name in its second event = %v, %t; want a time at or after %v, when that event's chunk was sent", at, ok, before)
	}
}

func TestArrivalsOfABodyNotGzipAfterAllEndWithoutBlocking(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0001-0")
	many := strings.Repeat("not gzip, churn-0001-0. ", 100000) // more chunks than the inflater's queue holds
	body := newSpottingBody(io.NopCloser(iotest.HalfReader(strings.NewReader(many))), a, true)
	n, err := io.Copy(io.Discard, body)
	if err != nil || n != int64(len(many)) {
		t.Fatalf("read %d bytes of %d, %v", n, len(many), err)
	}
	body.Close()
	<-body.gz.done
	if at, ok := a.take("churn-0001-0"); ok {
		t.Errorf("a name seen at %v in a body said to be gzip-encoded that is not", at)
	}
}

// TestProxyLooksThroughAGzipEncodedServicesWatch checks that the proxy
// finds a name in a Services watch the API server gzip-encoded.
func TestProxyLooksThroughAGzipEncodedServicesWatch(t *testing.T) {
	stream := strings.Join(gzipEvents(t, "ADDED churn-0001-0"), "")
	p, _ := proxiedAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		io.WriteString(w, stream)
	})
	p.seen.expect("churn-0001-0")
	req, err := http.NewRequest(http.MethodGet, p.clientConfig().Host+"/api/v1/services?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip") // as client-go asks: the body comes as it was sent
	client, err := rest.HTTPClientFor(p.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != stream {
		t.Fatalf("the proxy passed on %q, not the gzip stream %q", got, stream)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !seenYet(p.seen, "churn-0001-0") { // the inflater looks beside the stream
		if time.Now().After(deadline) {
			t.Fatal("the name went by gzip-encoded in a watch of Services and was not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seenYet says whether name, looked for, has come by.
func seenYet(a *arrivals, name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.want[name].IsZero()
}

func TestAGzipBodyClosedWhileReadEndsWithoutPanic(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0001-0")
	chunk := gzipEvents(t, "ADDED churn-0000-0")[0]
	pr, pw := io.Pipe()
	go func() {
		for {
			if _, err := io.WriteString(pw, chunk); err != nil {
				return // the body was closed
			}
		}
	}()
	body := newSpottingBody(pr, a, true)
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, body)
		read <- err
	}()
	time.Sleep(10 * time.Millisecond)
	body.Close() // as the proxy does when it cuts a watch
	if err := <-read; err == nil {
		t.Error("reading a body closed while read ended without an error")
	}
	<-body.gz.done
}

func TestTakeWaitsForTheInflaterToLookThroughWhatItWasFed(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0009-0")
	stream := gzipEvents(t, "ADDED churn-0008-0", "ADDED churn-0009-0")
	body := newSpottingBody(io.NopCloser(&chunks{stream[0], stream[1]}), a, true)
	if _, err := io.Copy(io.Discard, body); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.take("churn-0009-0"); !ok { // at once: the inflater may not have got there
		t.Errorf("a name fed to the inflater just before take was not seen (fed %d chunks, looked through %d)", a.fed.Load(), a.looked.Load())
	}
	body.Close()
	<-body.gz.done
	if fed, looked := a.fed.Load(), a.looked.Load(); fed != 2 || looked != 2 {
		t.Errorf("fed %d chunks and looked through %d once the stream ended, want 2 and 2", fed, looked)
	}
}
