package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The servers of the churn, relist and growth phases also run CoreDNS's
// prometheus plugin; the bench reads the Go runtime's own account of the
// heap there, parsed with expfmt.

var metricsClient = &http.Client{Timeout: 2 * time.Second}

// collectClient asks for a collection (liveHeapKB): one of stock's heap at
// 100,000 services (about a GB) took more than 2 s on 2 shared cores.
var collectClient = &http.Client{Timeout: 30 * time.Second}

// scrape reads every metric family the server on url exposes.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := metricsClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return metricFamilies(resp.Body)
}

// metricFamilies parses an exposition in Prometheus' text format.
func metricFamilies(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// gauge is the value of an unlabelled gauge (or untyped sample) name.
func gauge(mfs map[string]*dto.MetricFamily, name string) (float64, bool) {
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) == 0 {
		return 0, false
	}
	m := mf.GetMetric()[0]
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), true
	case m.Untyped != nil:
		return m.GetUntyped().GetValue(), true
	case m.Counter != nil:
		return m.GetCounter().GetValue(), true
	}
	return 0, false
}

// heapKB is the server's live heap (go_memstats_heap_alloc_bytes: reachable
// objects plus garbage not yet swept) and the heap's in-use spans, in KiB.
func heapKB(r *running) (alloc, inuse int64, err error) {
	mfs, err := scrape(r.srv.Ports.MetricsURL())
	if err != nil {
		return 0, 0, fmt.Errorf("%s metrics: %w", r.kind.name, err)
	}
	a, ok1 := gauge(mfs, "go_memstats_heap_alloc_bytes")
	u, ok2 := gauge(mfs, "go_memstats_heap_inuse_bytes")
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%s metrics: no go_memstats_heap_alloc_bytes/heap_inuse_bytes", r.kind.name)
	}
	return int64(a) / 1024, int64(u) / 1024, nil
}

// liveHeapKB is the server's live heap in KiB: go_memstats_heap_alloc_bytes
// just after a collection, which CoreDNS's pprof plugin runs when asked for
// a heap profile with gc=1 (the profile itself is discarded). Unlike VmRSS
// and the heap in use, it does not depend on where in its cycle the
// collector is: what an added service costs the collector's goal is twice
// it (GOGC=100).
func liveHeapKB(r *running) (int64, error) {
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?gc=1", r.srv.Ports.Health)
	// Twice: what sync.Pools hold survives one collection.
	for range 2 {
		resp, err := collectClient.Get(url)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", r.kind.name, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s: GET %s: %s %v", r.kind.name, url, resp.Status, err)
		}
	}
	alloc, _, err := heapKB(r)
	return alloc, err
}

// mallocs is the number of heap allocations the server has made
// (go_memstats_mallocs_total).
func mallocs(r *running) (float64, error) { return memstat(r, "go_memstats_mallocs_total") }

// allocated is the bytes the server has allocated on its heap
// (go_memstats_alloc_bytes_total): the garbage collector's work grows
// with it.
func allocated(r *running) (float64, error) { return memstat(r, "go_memstats_alloc_bytes_total") }

// memstat is the server's Go runtime metric name.
func memstat(r *running, name string) (float64, error) {
	mfs, err := scrape(r.srv.Ports.MetricsURL())
	if err != nil {
		return 0, fmt.Errorf("%s metrics: %w", r.kind.name, err)
	}
	v, ok := gauge(mfs, name)
	if !ok {
		return 0, fmt.Errorf("%s metrics: no %s", r.kind.name, name)
	}
	return v, nil
}

// watchesServed is how many watches the API server is serving, of every
// resource: the sum of its apiserver_longrunning_requests gauge over verb
// WATCH.
func (b *bench) watchesServed() (float64, error) {
	raw, err := b.client.CoreV1().RESTClient().Get().AbsPath("/metrics").Timeout(10 * time.Second).DoRaw(b.ctx)
	if err != nil {
		return 0, fmt.Errorf("API server metrics: %w", err)
	}
	mfs, err := metricFamilies(bytes.NewReader(raw))
	if err != nil {
		return 0, fmt.Errorf("API server metrics: %w", err)
	}
	var n float64
	for _, m := range mfs["apiserver_longrunning_requests"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "verb" && l.GetValue() == "WATCH" {
				n += m.GetGauge().GetValue() + m.GetUntyped().GetValue()
			}
		}
	}
	return n, nil
}
