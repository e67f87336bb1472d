package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// pairsRun is a run's churn set of n creates at size services: kubesvc's
// latency of create i is k(i), stock's s(i), from the write and (halved)
// past the proxy.
func pairsRun(services, n int, k, s func(i int) time.Duration) churnSet {
	set := churnSet{n: services, latencySet: latencySet{pollEvery: 250 * time.Microsecond}}
	for i := range n {
		set.pairedUnder = append(set.pairedUnder, latencyPair{k(i), s(i)})
		set.pairedPast = append(set.pairedPast, latencyPair{k(i) / 2, s(i) / 2})
	}
	return set
}

func TestPoolComparesTheCreatesOfEveryRunTogether(t *testing.T) {
	dir := t.TempDir()
	// Run a: kubesvc 1 ms, stock 2 ms; run b: kubesvc 4 ms, stock 3 ms.
	// Pooled, each server's p99 is its run-b latency: 4 against 3 ms.
	a := filepath.Join(dir, "a.csv")
	b := filepath.Join(dir, "b.csv")
	if err := writePairs(a, []churnSet{pairsRun(5000, 100, func(int) time.Duration { return ms(1) }, func(int) time.Duration { return ms(2) })}); err != nil {
		t.Fatal(err)
	}
	if err := writePairs(b, []churnSet{pairsRun(5000, 100, func(int) time.Duration { return ms(4) }, func(int) time.Duration { return ms(3) })}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := pool(&out, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"5000 services, from the create returning:\n  " + a + ": p50 1.0ms against 2.0ms (0.50) p99 1.0ms against 2.0ms (0.50) over 100 creates",
		"  " + b + ": p50 4.0ms against 3.0ms (1.33) p99 4.0ms against 3.0ms (1.33) over 100 creates",
		"pooled: p50 1.0ms against 2.0ms (0.50) p99 4.0ms against 3.0ms (1.33) over 200 creates",
		"paired over 200 creates: kubesvc answered first 100 times, stock 100",
		"5000 services, past the proxy:",
		"pooled: p50 0.5ms against 1.0ms (0.50) p99 2.0ms against 1.5ms (1.33) over 200 creates",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("pool's report lacks %q; it is:\n%s", want, got)
		}
	}
	if strings.Index(got, "past the proxy") < strings.Index(got, "from the create returning") {
		t.Errorf("past the proxy is reported before the latency from the write:\n%s", got)
	}
}

func TestShareOfTailTellsASharedTailFromSeparateOnes(t *testing.T) {
	const n = 1000
	// Shared: the same ten creates are slow at both servers.
	shared := pairsRun(1, n, func(i int) time.Duration {
		return ms(1 + float64(i%100/99)*10)
	}, func(i int) time.Duration {
		return ms(1 + float64(i%100/99)*12)
	})
	if got := shareOfTail(shared.pairedUnder); got != (tailShare{10, 10, 10, 10}) {
		t.Errorf("the same creates slow at both: %+v, want every slow create in the other's tail", got)
	}
	// Separate: kubesvc's slow creates are i%100 == 0, stock's i%100 == 50.
	apart := pairsRun(1, n, func(i int) time.Duration {
		if i%100 == 0 {
			return ms(11)
		}
		return ms(1)
	}, func(i int) time.Duration {
		if i%100 == 50 {
			return ms(13)
		}
		return ms(1)
	})
	if got := shareOfTail(apart.pairedUnder); got.kubesvcSlow != 10 || got.alsoStock != 0 || got.stockSlow != 10 || got.alsoKubesvc != 0 {
		t.Errorf("different creates slow at each: %+v, want 10 slow at each and none in the other's tail", got)
	}
}

func TestReadPairsRejectsWhatWritePairsDoesNotWrite(t *testing.T) {
	for name, body := range map[string]string{
		"another header":   "services,measure,kubesvc_ns,stock_ns,poll_ns\n",
		"a negative time":  strings.Join(pairsHeader, ",") + "\n5000,write,250000,-1,2\n",
		"an unknown phase": strings.Join(pairsHeader, ",") + "\n5000,relist,250000,1,2\n",
		"a missing field":  strings.Join(pairsHeader, ",") + "\n5000,write,250000,1\n",
		"no header":        "",
	} {
		if run, err := readPairs("f.csv", strings.NewReader(body)); err == nil {
			t.Errorf("%s: read without error: %+v", name, run)
		} else if !strings.HasPrefix(err.Error(), "f.csv") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

func TestPoolWantsFiles(t *testing.T) {
	if err := pool(os.Stdout, nil); err == nil {
		t.Error("-pool with no files gave no error")
	}
}

func TestPoolTakesEachRunsTailOnItsOwnAndRefusesRunsPolledApart(t *testing.T) {
	dir := t.TempDir()
	// Run a's creates are fast at both servers, run b's all slow at both;
	// within each run, kubesvc's slow creates are others than stock's.
	apart := func(base float64) churnSet {
		return pairsRun(5000, 300, func(i int) time.Duration {
			return ms(base + float64(i%100)/1000 + float64(i%100/99)*5)
		}, func(i int) time.Duration {
			return ms(base + float64((i+50)%100)/1000 + float64((i+50)%100/99)*5)
		})
	}
	a, b := apart(1), apart(20)
	pa, pb := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	for path, set := range map[string]churnSet{pa: a, pb: b} {
		if err := writePairs(path, []churnSet{set}); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	if err := pool(&out, []string{pa, pb}); err != nil {
		t.Fatal(err)
	}
	want := shareOfTail(a.pairedUnder).plus(shareOfTail(b.pairedUnder))
	if want.alsoStock != 0 || want.alsoKubesvc != 0 {
		t.Fatalf("runs built with separate tails share them: %s", want)
	}
	if !strings.Contains(out.String(), want.String()) {
		t.Errorf("pool's tail share is not the runs' own summed (%s):\n%s", want, out.String())
	}
	c := a
	c.pollEvery = time.Millisecond
	pc := filepath.Join(dir, "c.csv")
	if err := writePairs(pc, []churnSet{c}); err != nil {
		t.Fatal(err)
	}
	if err := pool(io.Discard, []string{pa, pc}); err == nil || !strings.Contains(err.Error(), "polled") {
		t.Errorf("runs polled every 250µs and every 1ms pooled: %v, want an error saying so", err)
	}
}

func TestPinnedCreatesArePooledApartFromTheOthers(t *testing.T) {
	set := pairsRun(5000, 100, func(int) time.Duration { return ms(1) }, func(int) time.Duration { return ms(2) })
	pinned := pairsRun(5000, 50, func(int) time.Duration { return ms(3) }, func(int) time.Duration { return ms(6) })
	set.pinned = &pinned.latencySet
	path := filepath.Join(t.TempDir(), "p.csv")
	if err := writePairs(path, []churnSet{set}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := readPairs(path, f)
	if err != nil {
		t.Fatal(err)
	}
	for measure, want := range map[string]latencyPair{"write": {ms(1), ms(2)}, "proxy": {ms(0.5), ms(1)}, "write-pinned": {ms(3), ms(6)}, "proxy-pinned": {ms(1.5), ms(3)}} {
		got := run.pairs[pairsKey{5000, measure}]
		n := map[bool]int{true: 50, false: 100}[strings.HasSuffix(measure, "-pinned")]
		if len(got) != n || got[0] != want {
			t.Errorf("%s: %d pairs, first %v; want %d of %v", measure, len(got), got[:min(1, len(got))], n, want)
		}
	}
	var out strings.Builder
	if err := pool(&out, []string{path}); err != nil {
		t.Fatal(err)
	}
	if w, p := strings.Index(out.String(), "from the create returning:"), strings.Index(out.String(), "each server on CPUs of its own"); w < 0 || p < w {
		t.Errorf("-pool printed the pinned creates not after the others:\n%s", out.String())
	}
}
