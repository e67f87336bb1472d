package main

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pooling the creates of several runs. One long run times some 5,000
// creates under the flips, which puts the p99 ratio within about ±0.1;
// -pairs-out keeps each create's two latencies, and -pool reads the files
// of several runs and compares the servers over all their creates at once,
// as one run of that many creates would (comparePairs), besides each run's
// own ratio, so that a drift between runs shows.
//
// A file is CSV with a header: services, measure (one of measures), the
// poll interval and kubesvc's and stock's latency, all durations in
// nanoseconds, one row a create both servers answered.

var pairsHeader = []string{"services", "measure", "poll_ns", "kubesvc_ns", "stock_ns"}

// measures are the measures a file may hold, in the order -pool prints them:
// from the create returning, from each server's proxy passing on its event
// (arrival.go), and both again with the servers on CPUs apart (pin.go).
var measures = []measure{
	{"write", "from the create returning"},
	{"proxy", "past the proxy"},
	{"write-pinned", "from the create returning, each server on CPUs of its own"},
	{"proxy-pinned", "past the proxy, each server on CPUs of its own"},
}

// measure is a measure's name in a file and what -pool calls it.
type measure struct{ name, what string }

// measureRank is the place of measure name in measures; -1 if none.
func measureRank(name string) int {
	return slices.IndexFunc(measures, func(m measure) bool { return m.name == name })
}

// measureNames are the names of measures, for an error.
func measureNames() string {
	names := make([]string, len(measures))
	for i, m := range measures {
		names[i] = m.name
	}
	return strings.Join(names, ", ")
}

// writePairs writes the paired latencies of churn to path.
func writePairs(path string, churn []churnSet) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(pairsHeader)
	for _, s := range churn {
		for _, l := range []struct {
			suffix string
			set    *latencySet
		}{{"", &s.latencySet}, {"-pinned", s.pinned}} {
			if l.set == nil {
				continue
			}
			for _, m := range []struct {
				name  string
				pairs []latencyPair
			}{{"write", l.set.pairedUnder}, {"proxy", l.set.pairedPast}} {
				for _, p := range m.pairs {
					_ = w.Write([]string{strconv.Itoa(s.n), m.name + l.suffix, fmtNanos(l.set.pollEvery), fmtNanos(p[0]), fmtNanos(p[1])})
				}
			}
		}
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}

func fmtNanos(d time.Duration) string { return strconv.FormatInt(int64(d), 10) }

// pooledRun is one file's pairs, by services and measure.
type pooledRun struct {
	file  string
	pairs map[pairsKey][]latencyPair
	poll  map[pairsKey]time.Duration
}

type pairsKey struct {
	services int
	measure  string
}

// readPairs reads one file writePairs wrote; an error names the file and
// line.
func readPairs(path string, r io.Reader) (pooledRun, error) {
	run := pooledRun{file: path, pairs: map[pairsKey][]latencyPair{}, poll: map[pairsKey]time.Duration{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(pairsHeader)
	head, err := cr.Read()
	if err != nil {
		return run, fmt.Errorf("%s: %w", path, err)
	}
	if !slices.Equal(head, pairsHeader) {
		return run, fmt.Errorf("%s: header %q, want %q", path, head, pairsHeader)
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return run, nil
		}
		if err != nil {
			return run, fmt.Errorf("%s: %w", path, err)
		}
		var n [4]int64
		for i, field := range []string{rec[0], rec[2], rec[3], rec[4]} {
			if n[i], err = strconv.ParseInt(field, 10, 64); err != nil || n[i] < 0 {
				return run, fmt.Errorf("%s:%d: %q is not a count or a duration in nanoseconds", path, line, field)
			}
		}
		k := pairsKey{services: int(n[0]), measure: rec[1]}
		if measureRank(k.measure) < 0 {
			return run, fmt.Errorf("%s:%d: measure %q, want one of %s", path, line, k.measure, measureNames())
		}
		run.poll[k] = time.Duration(n[1])
		run.pairs[k] = append(run.pairs[k], latencyPair{time.Duration(n[2]), time.Duration(n[3])})
	}
}

// tailShare says how far the servers' slowest creates are the same
// creates: of the creates in kubesvc's slowest 1 %, how many were in stock's
// slowest 5 % (slower than its p95: at most 5 %, fewer with ties), and the
// other way round. Were the tails each server's own, about 5 % would be;
// near all says that what delayed them delayed both.
type tailShare struct{ kubesvcSlow, alsoStock, stockSlow, alsoKubesvc int }

func shareOfTail(pairs []latencyPair) tailShare {
	var t tailShare
	t.kubesvcSlow, t.alsoStock = slowAtBoth(pairs, 0)
	t.stockSlow, t.alsoKubesvc = slowAtBoth(pairs, 1)
	return t
}

// slowAtBoth is how many creates are server i's slowest 1 % (at least one),
// and how many of them the other server answered slower than its p95.
func slowAtBoth(pairs []latencyPair, i int) (slow, both int) {
	if len(pairs) == 0 {
		return 0, 0
	}
	p95, _ := percentile(side(pairs, 1-i), 95)
	byLatency := slices.Clone(pairs)
	slices.SortStableFunc(byLatency, func(a, b latencyPair) int { return cmp.Compare(b[i], a[i]) })
	slow = max(len(pairs)/100, 1)
	for _, p := range byLatency[:slow] {
		if p[1-i] > p95 {
			both++
		}
	}
	return slow, both
}

func (t tailShare) plus(o tailShare) tailShare {
	return tailShare{t.kubesvcSlow + o.kubesvcSlow, t.alsoStock + o.alsoStock, t.stockSlow + o.stockSlow, t.alsoKubesvc + o.alsoKubesvc}
}

func (t tailShare) String() string {
	return fmt.Sprintf("of kubesvc's slowest 1 %% (%d creates), %d were in stock's slowest 5 %%; of stock's (%d), %d in kubesvc's",
		t.kubesvcSlow, t.alsoStock, t.stockSlow, t.alsoKubesvc)
}

// pool reads the files and prints, by services and measure, each run's
// percentiles and the comparison over all their creates.
func pool(out io.Writer, files []string) error {
	if len(files) == 0 {
		return errors.New("-pool: name the -pairs-out files to pool")
	}
	var runs []pooledRun
	keys := map[pairsKey]bool{}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		run, err := readPairs(path, f)
		f.Close()
		if err != nil {
			return err
		}
		runs = append(runs, run)
		for k := range run.pairs {
			keys[k] = true
		}
	}
	order := slices.Collect(maps.Keys(keys))
	slices.SortFunc(order, func(a, b pairsKey) int { // by services, then as in measures
		return cmp.Or(cmp.Compare(a.services, b.services), cmp.Compare(measureRank(a.measure), measureRank(b.measure)))
	})
	for _, k := range order {
		if err := poolKey(out, runs, k); err != nil {
			return err
		}
	}
	return nil
}

// poolKey prints one services-and-measure's runs and their pool: the
// paired summary resampled within each run (compareStrata), and the tail
// share summed over the runs, each run's tails its own (a run slow for
// both servers would otherwise fill both pooled tails). Runs polled at
// different intervals are not pooled: which server answered first, and
// how close, is counted in polls.
func poolKey(out io.Writer, runs []pooledRun, k pairsKey) error {
	what := measures[measureRank(k.measure)].what
	fmt.Fprintf(out, "%d services, %s:\n", k.services, what)
	var strata [][]latencyPair
	var share tailShare
	poll, polledBy := time.Duration(0), ""
	for _, r := range runs {
		pairs := r.pairs[k]
		if len(pairs) == 0 {
			continue
		}
		if polledBy != "" && r.poll[k] != poll {
			return fmt.Errorf("%s was polled every %s, %s every %s: pool runs polled alike", r.file, r.poll[k], polledBy, poll)
		}
		poll, polledBy = r.poll[k], r.file
		strata = append(strata, pairs)
		share = share.plus(shareOfTail(pairs))
		fmt.Fprintf(out, "  %s: %s\n", r.file, percentilesOf(pairs))
	}
	fmt.Fprintf(out, "  pooled: %s\n  %s\n  %s\n", percentilesOf(slices.Concat(strata...)), compareStrata(strata, poll), share)
	return nil
}

// percentilesOf is the p50 and p99 of each server and their ratios.
func percentilesOf(pairs []latencyPair) string {
	ks, st := side(pairs, 0), side(pairs, 1)
	var parts []string
	for _, p := range []float64{50, 99} {
		a, _ := percentile(ks, p)
		b, _ := percentile(st, p)
		parts = append(parts, fmt.Sprintf("p%.0f %s against %s (%.2f)", p, fmtDur(a), fmtDur(b), float64(a)/float64(b)))
	}
	return fmt.Sprintf("%s over %d creates", strings.Join(parts, " "), len(pairs))
}

// side is server i's latencies of pairs (0: kubesvc's, 1: stock's).
func side(pairs []latencyPair, i int) []time.Duration {
	d := make([]time.Duration, len(pairs))
	for j, p := range pairs {
		d[j] = p[i]
	}
	return d
}
