package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestArrivalsSpotANameCutAcrossReads(t *testing.T) {
	a := newArrivals()
	a.expect("churn-0042-0")
	stream := "\x0a\x05ADDED\x12\x40k8s\x00churn-0041-0 ... churn-0042-0\x1a\x09default" // the name cut by one-byte reads
	before := time.Now()
	body := &spottingBody{ReadCloser: io.NopCloser(iotest.OneByteReader(strings.NewReader(stream))), a: a}
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
	body := &spottingBody{ReadCloser: io.NopCloser(strings.NewReader("churn-0007-1 churn-0070-0")), a: a}
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
	body := &spottingBody{ReadCloser: io.NopCloser(&chunks{"xx churn-00", "", "42-0 yy"}), a: a}
	if _, err := io.ReadAll(body); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.take("churn-0042-0"); !ok {
		t.Errorf("a name cut by an empty read between its halves was not seen")
	}
}
