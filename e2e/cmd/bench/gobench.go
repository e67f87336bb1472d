package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// gobench collects every figure as a line in Go's benchmark format
// (https://go.dev/design/14313-benchmark-format), so that benchstat can
// compare two runs of make bench: `benchstat old.txt new.txt`. Each line is
// one measure of one server; rounds give several lines of the same name.
type gobench struct {
	lines []string
}

// add records "Benchmark<name>/<sub> <n> <value> <unit>...".
func (g *gobench) add(name, sub string, n int, valueUnits ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "Benchmark%s/%s %d", name, sub, max(n, 1))
	for i := 0; i+1 < len(valueUnits); i += 2 {
		var v float64
		switch x := valueUnits[i].(type) {
		case float64:
			v = x
		case int64:
			v = float64(x)
		case int:
			v = float64(x)
		case time.Duration:
			v = float64(x)
		}
		fmt.Fprintf(&b, " %.6g %s", v, valueUnits[i+1])
	}
	g.lines = append(g.lines, b.String())
}

func (g *gobench) cold(set coldSet) {
	for _, k := range []string{"kubesvc", "stock", "ceiling"} {
		for i := range set.first[k] {
			g.add("ColdStart", fmt.Sprintf("services=%d/server=%s", set.n, k), 1,
				set.first[k][i], "first-answer-ns", set.cpu[k][i], "cpu-ns", 1024*set.rss[k][i], "rss-B")
		}
	}
}

func (g *gobench) prog(name string, res map[string]*progResult) {
	for _, k := range []string{"kubesvc", "stock"} {
		if pr := res[k]; pr != nil {
			p50, _ := percentile(pr.all, 50)
			p99, _ := percentile(pr.all, 99)
			g.add(name, "server="+k, len(pr.all), p50, "p50-ns", p99, "p99-ns", pr.missed, "missed")
		}
	}
}

func (g *gobench) churn(set churnSet) {
	for _, k := range []string{"kubesvc", "stock"} {
		sub := fmt.Sprintf("services=%d/server=%s", set.n, k)
		if set.flips > 0 {
			g.add("FlipCPU", sub, set.flips, set.flipCPU[k], "ns/op")
		}
		if set.moves > 0 {
			moved := 0
			if set.soa[k].moved {
				moved = 1
			}
			g.add("MoveCPU", sub, set.moves, set.moveCPU[k], "ns/op", moved, "soa-moved")
		}
		g.latency(sub, k, "", &set.latencySet)
		g.latency(sub, k, "Pinned", set.pinned)
	}
}

// latency adds server k's latencies of l (none if nil), as benchmarks
// named with suffix.
func (g *gobench) latency(sub, k, suffix string, l *latencySet) {
	if l == nil {
		return
	}
	if xs := l.underChurn[k]; len(xs) > 0 {
		p50, _ := percentile(xs, 50)
		p99, _ := percentile(xs, 99)
		g.add("ProgUnderChurn"+suffix, sub, len(xs), p50, "p50-ns", p99, "p99-ns", l.missedUnder[k], "missed")
	}
	if xs := l.pastProxy[k]; len(xs) > 0 {
		p50, _ := percentile(xs, 50)
		p99, _ := percentile(xs, 99)
		g.add("ProgPastProxy"+suffix, sub, len(xs), p50, "p50-ns", p99, "p99-ns", l.unspotted[k], "unseen")
	}
}

func (g *gobench) growth(set growthSet) {
	for _, k := range []string{"kubesvc", "stock", "kubesvc-memlimit", "stock-memlimit"} {
		if v, ok := set.kb[k]; ok {
			g.add("Growth", fmt.Sprintf("services=%d/server=%s", set.from+set.added, k), set.added,
				1024*v, "rss-B/svc", set.heapB[k], "heap-B/svc", set.liveB[k], "live-B/svc", 1024*set.anonKB[k], "anon-B/svc")
		}
	}
}

func (g *gobench) allocs(m map[string]float64) {
	for _, k := range []string{"kubesvc", "stock"} {
		if v, ok := m[k]; ok {
			g.add("AllocsPerQuery", "server="+k, 1, v, "allocs/op")
		}
	}
}

func (g *gobench) relist(r *relistResult) {
	for _, k := range []string{"kubesvc", "stock"} {
		if r.steady[k] > 0 {
			g.add("Relist", fmt.Sprintf("services=%d/server=%s", r.n, k), 1,
				1024*r.steady[k], "steady-rss-B", 1024*r.peak[k], "peak-rss-B",
				float64(r.peak[k])/float64(r.steady[k]), "peak/steady", r.wrong[k], "wrong-answers")
		}
	}
}

// write prints the lines, with the header benchstat reads for context, to
// stdout and to path.
func (g *gobench) write(path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\npkg: github.com/kubesvc/kubesvc/e2e/cmd/bench\ncpu: %s\n", runtime.GOOS, runtime.GOARCH, cpuModel())
	for _, l := range g.lines {
		b.WriteString(l + "\n")
	}
	fmt.Printf("\n=== Go benchmark format (benchstat; also in %s) ===\n%s", path, b.String())
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
