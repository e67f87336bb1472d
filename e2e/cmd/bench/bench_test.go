package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPodIPsAreDistinctHostAddresses(t *testing.T) {
	seen := map[string]int{}
	for x := 1; x <= 300000; x++ {
		ip := podIP(x)
		if prev, ok := seen[ip]; ok {
			t.Fatalf("podIP(%d) = %s, the same as podIP(%d)", x, ip, prev)
		}
		seen[ip] = x
		if strings.HasSuffix(ip, ".0") || strings.HasSuffix(ip, ".255") {
			t.Fatalf("podIP(%d) = %s: a network or broadcast address", x, ip)
		}
	}
}

func TestPlanGivesEveryServiceItsEndpoints(t *testing.T) {
	d := &dataset{namespaces: 3, headlessFrac: 0.1, endpoints: 10}
	svcs := d.plan(100)
	if n := countHeadless(svcs); n != 10 {
		t.Fatalf("%d headless services of 100, want 10", n)
	}
	for _, s := range svcs {
		switch {
		case s.headless && (len(s.eps) != 10 || len(s.ips) != 10):
			t.Errorf("%s: headless with %d endpoints and %d answers, want 10 and 10", s.name, len(s.eps), len(s.ips))
		case !s.headless && (len(s.eps) < 3 || len(s.eps) > 10):
			t.Errorf("%s: ClusterIP with %d endpoints, want 3 to 10", s.name, len(s.eps))
		}
	}
}

func TestGoBenchLinesAreBenchstatFormat(t *testing.T) {
	g := &gobench{}
	g.add("FlipCPU", "services=5000/server=kubesvc", 300, 13500*time.Nanosecond, "ns/op")
	g.add("Relist", "services=5000/server=stock", 1, int64(1024), "peak-rss-B", 1.25, "peak/steady")
	line := regexp.MustCompile(`^Benchmark[^ ]+ [0-9]+( [0-9.e+-]+ [^ ]+)+$`)
	for _, l := range g.lines {
		if !line.MatchString(l) {
			t.Errorf("%q is not a Go benchmark line", l)
		}
	}
	if want := "BenchmarkFlipCPU/services=5000/server=kubesvc 300 13500 ns/op"; g.lines[0] != want {
		t.Errorf("got %q, want %q", g.lines[0], want)
	}
}

func TestDeployMemLimit(t *testing.T) {
	for _, tc := range []struct{ name, env, want string }{
		{"value", "env: [{name: GOMEMLIMIT, value: 150MiB}]", "150MiB"},
		{"resourceFieldRef", "env: [{name: GOMEMLIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory}}}]", "178257920"},
		{"none: the memory limit", "", "178257920"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "deploy", "base")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			yaml := "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n" +
				"        - name: coredns\n          resources: {limits: {memory: 170Mi}}\n"
			if tc.env != "" {
				yaml += "          " + tc.env + "\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "deployment.yaml"), []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			got, from, err := deployMemLimit(root, "")
			if err != nil || got != tc.want {
				t.Fatalf("deployMemLimit = %q (%s), %v; want %q", got, from, err, tc.want)
			}
		})
	}
}

// TestComparePairsTellsWhichAnsweredFirst: the creates are counted by
// which server answered half a poll or more before the other, and the
// bootstrap interval of the p99 ratio holds the ratio of the samples, lies
// below 1 when one server is slower at every create, and resamples the
// creates as pairs.
func TestComparePairsTellsWhichAnsweredFirst(t *testing.T) {
	ms := time.Millisecond
	var pairs []latencyPair
	for i := range 400 {
		k := time.Duration(1+i%10) * ms
		pairs = append(pairs, latencyPair{k, k + 2*ms}) // stock 2 ms later
	}
	pairs = append(pairs, latencyPair{3 * ms, 3*ms + ms/4}, latencyPair{5 * ms, 3 * ms})
	s := comparePairs(pairs, ms)
	if s.kubesvcFirst != 400 || s.stockFirst != 1 || s.samePoll != 1 {
		t.Errorf("kubesvc first %d, stock first %d, same poll %d; want 400, 1, 1", s.kubesvcFirst, s.stockFirst, s.samePoll)
	}
	ci := s.ratioCI[99]
	if !(ci[0] <= ci[1] && ci[1] < 1 && ci[0] > 0.5) {
		t.Errorf("p99 ratio interval %v; want within (0.5, 1): kubesvc's p99 is 10 ms against stock's 12 ms", ci)
	}
	// Resampled by create, stock 1.1 times as slow at every create of a
	// heavy tail gives one ratio, whatever the draw: resampled apart, the
	// servers' p99s would come from different creates.
	var scaled []latencyPair
	for i := range 300 {
		x := time.Duration(1 + i*i)
		scaled = append(scaled, latencyPair{10 * x * ms, 11 * x * ms})
	}
	if ci := comparePairs(scaled, ms).ratioCI[99]; ci[0] != 10.0/11 || ci[1] != 10.0/11 {
		t.Errorf("p99 ratio interval %v for stock 1.1 times as slow at every create; want [%.4f, %.4f]: the creates were not resampled as pairs", ci, 10.0/11, 10.0/11)
	}
	if got := comparePairs(nil, ms).String(); !strings.Contains(got, "no create") {
		t.Errorf("no pairs summarised as %q", got)
	}
}

func TestLatencyFlipsDefaultToFlipsAndAreBounded(t *testing.T) {
	c := config{services: 5000, namespaces: 50, headlessFrac: 0.05, endpoints: 10, rounds: 1, duration: 2 * time.Second,
		pollEvery: time.Millisecond, churnRate: 100, seedWorkers: 16, seed: "auto", flips: 1000, moves: 60,
		perf: perfOpts{clients: 8, threads: 1, outstanding: 100}}
	if err := c.validate(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	if n := (&bench{c: c}).latencyFlips(); n != 1000 {
		t.Errorf("-latency-flips 0 with -flips 1000 times creates under %d flips, want 1000", n)
	}
	c.latencyFlips = 30000
	if n := (&bench{c: c}).latencyFlips(); n != 30000 {
		t.Errorf("-latency-flips 30000 times creates under %d flips, want 30000", n)
	}
	for _, n := range []int{-1, 100001} {
		c.latencyFlips = n
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "-latency-flips") {
			t.Errorf("-latency-flips %d: validate said %v, want an error naming -latency-flips", n, err)
		}
	}
}
