// Command bench is the `make bench` driver. On a real control plane (kube-
// apiserver and etcd through envtest; binaries from KUBEBUILDER_ASSETS,
// default <repo>/bin) seeded with N Services, each with an EndpointSlice of
// its pods as the EndpointSlice controller would write it, it compares three
// CoreDNS servers answering the same names:
//
//   - kubesvc: bin/coredns with the kubesvc plugin;
//   - stock:   bin/coredns-stock (hack/build-stock.sh), stock CoreDNS with its
//     kubernetes plugin;
//   - ceiling: bin/coredns answering the same names from a hosts file, the
//     most the framework can do.
//
// One function a phase, in this order (run): seed; idle memory of the
// binaries; cold starts (first correct answer, CPU, RSS); throughput under
// dnsperf (rounds alternate the servers, so drift cancels); then kubesvc and
// stock side by side, watching the same API server through a proxy the bench
// controls: DNS programming latency; CPU per EndpointSlice change (readiness
// flips in a 1,000-endpoint headless service, endpoint moves behind ClusterIP
// services and whether they move kubesvc's SOA serial) and programming
// latency while the flips run, sharing the CPUs and again on CPUs apart
// (pin.go); the peak memory of a forced relist; the
// memory each added Service costs, with the default GOGC and with the
// GOMEMLIMIT of deploy/; and optionally all of it again at a larger size.
// It prints one table per phase with the kubesvc/stock ratios, and the same
// figures in Go benchmark format (for benchstat) to stdout and -gobench-out.
// Every server listens on 127.0.0.1 and every query goes there.
//
// It builds nothing: `make bench` builds bin/coredns, the control plane and
// bin/coredns-stock, and installs dnsperf, first (see hack/bench.sh).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
)

type config struct {
	root         string
	services     int
	namespaces   int
	headlessFrac float64
	endpoints    int
	rounds       int
	duration     time.Duration
	warmup       time.Duration
	settle       time.Duration
	changes      int
	pollEvery    time.Duration
	addFrac      float64
	firstAnswerN int
	seedWorkers  int
	seed         string // how the growth to -first-answer-services is written: auto, api, etcd
	perf         perfOpts
	quick        bool
	flips        int     // readiness flips in the 1,000-endpoint headless service
	latencyFlips int     // flips to time creates under (0: flips)
	moves        int     // endpoint moves behind ClusterIP services
	churnRate    float64 // changes per second in the churn phases
	relist       bool    // force a relist and measure its peak memory
	memLimit     string  // GOMEMLIMIT for the second growth measure ("" : deploy/'s)
	gobenchOut   string  // where the Go benchmark format goes
	pairsOut     string  // where each create's paired latencies go (pairs.go)
	pin          bool    // time the creates during the flips again with the servers on CPUs apart (pin.go)
	pool         bool    // compare the pairs of the files given, run nothing
}

func main() {
	// Own flag set: controller-runtime registers -kubeconfig on the global one.
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	var c config
	fs.StringVar(&c.root, "root", "", "repository root (default: found from the working directory)")
	fs.IntVar(&c.services, "services", 5000, "Services to seed (ClusterIP, and the -headless-fraction of them headless), over -namespaces namespaces")
	fs.IntVar(&c.namespaces, "namespaces", 50, "namespaces the Services are spread over")
	fs.Float64Var(&c.headlessFrac, "headless-fraction", 0.05, "share of the Services that are headless (0.05 of 5000: 250)")
	fs.IntVar(&c.endpoints, "endpoints", 10, "endpoints of each headless Service (one hand-made EndpointSlice each)")
	fs.IntVar(&c.rounds, "rounds", 5, "rounds: each runs every server once, the order rotated per round; also the number of cold starts per server")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "dnsperf run length per server and round")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured dnsperf run per server before the rounds")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "wait after sync (or after growth) before reading VmRSS")
	fs.IntVar(&c.changes, "changes", 1200, "API writes for the DNS programming latency (create/update/delete of Services and EndpointSlices; 200 of each kind by default, so that p99 is not one or two samples)")
	fs.DurationVar(&c.pollEvery, "poll", time.Millisecond, "DNS polling interval when waiting for a change")
	fs.Float64Var(&c.addFrac, "add-fraction", 1, "memory growth: add this fraction of -services under the running servers, through the API (0: skip); at 0.4 (1,900 services) the figure cannot resolve 0.5 KB a service: it swung 0.6 to 1.1 KB between runs")
	fs.IntVar(&c.firstAnswerN, "first-answer-services", 0, "long run: grow the cluster to this many Services (e.g. 20000) under running servers, then cold starts, churn and relist there; seeded through the API that takes about 11 minutes to 20000 on 2 cores and hours to 100000, straight into etcd (-seed) a few minutes to 100000; past 60000 a second ServiceCIDR is added (0: skip)")
	fs.IntVar(&c.seedWorkers, "seed-workers", 16, "parallel writers while seeding (API requests, or etcd transactions of 40 services)")
	fs.StringVar(&c.seed, "seed", "auto", "how the growth to -first-answer-services is written: api (through the API server, as everything else is), etcd (straight into the API server's etcd, as it stores objects; the API server serves them through its watch cache), auto (etcd when the growth is 5000 services or more)")
	fs.IntVar(&c.perf.clients, "dnsperf-clients", 8, "dnsperf -c")
	fs.IntVar(&c.perf.threads, "dnsperf-threads", 1, "dnsperf -T")
	fs.IntVar(&c.perf.outstanding, "dnsperf-outstanding", 100, "dnsperf -q")
	fs.IntVar(&c.flips, "flips", 3000, "readiness flips in the 1,000-endpoint headless service, for CPU per change (30 s at -churn-rate 100; over 1000 the ratio swung 0.41 to 0.54 between runs) and again for programming latency under churn unless -latency-flips (0: skip them, but for -latency-flips)")
	fs.IntVar(&c.latencyFlips, "latency-flips", 0, "readiness flips to run while services are created one at a time, for the programming latency under churn (0: as many as -flips); about 17 creates per 100 flips at -churn-rate 100, so 30000 give some 5,000 creates, which narrow the p99 ratio's 95% interval to about ±0.1 (1000 give some 250: ±0.5); past 2000 the flips sweep every endpoint of the service again and again, where 1000 turn half of them")
	fs.IntVar(&c.moves, "moves", 300, "endpoint moves behind ClusterIP services, for CPU per change (0: skip)")
	fs.Float64Var(&c.churnRate, "churn-rate", 100, "EndpointSlice changes per second in the churn phases")
	fs.BoolVar(&c.pin, "pin", true, "time the creates during the flips a second time with each server's threads on CPUs of its own (half the CPUs each, swapped between the halves), as in a cluster where the two never share one (pin.go)")
	fs.BoolVar(&c.relist, "relist", true, "force every watch to relist (410 Gone, as after an API server restart) and measure peak memory and answers during it")
	fs.StringVar(&c.memLimit, "gomemlimit", "", "GOMEMLIMIT for the second memory-growth measure (default: what deploy/base/deployment.yaml sets, else its memory limit)")
	fs.StringVar(&c.gobenchOut, "gobench-out", "", "file for the Go benchmark format lines, for benchstat (default <root>/bin/bench.txt)")
	fs.StringVar(&c.pairsOut, "pairs-out", "", "file (CSV) for each create's latencies at both servers under the flips, written after each churn phase, to pool several runs with -pool (a relative path is from e2e/, where hack/bench.sh runs the driver)")
	fs.BoolVar(&c.pool, "pool", false, "run nothing: compare the servers over the creates of the -pairs-out files given as arguments, pooled, and each run's alone")
	fs.BoolVar(&c.quick, "quick", false, "smoke test (about 2 minutes): -services 300 -duration 2s -rounds 1 -warmup 300ms -settle 1s -changes 24 -flips 60 -moves 60 -add-fraction 0.3 -first-answer-services 600, each unless given")
	_ = fs.Parse(os.Args[1:])
	if c.pool {
		if err := pool(os.Stdout, fs.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{
			"services": "300", "duration": "2s", "rounds": "1", "warmup": "300ms", "settle": "1s", "changes": "24",
			"flips": "60", "moves": "60", "add-fraction": "0.3", "first-answer-services": "600",
		} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// flipsUnderCreates is how many flips the creates of churn (c) are timed
// under: -latency-flips, else -flips.
func (c *config) flipsUnderCreates() int { return cmp.Or(c.latencyFlips, c.flips) }

func (c *config) validate() error {
	switch {
	case c.services < 20:
		return errors.New("-services must be at least 20")
	case c.namespaces < 1 || c.namespaces > 100:
		return errors.New("-namespaces must be 1 to 100")
	case c.headlessFrac <= 0 || c.headlessFrac >= 1:
		return errors.New("-headless-fraction must be between 0 and 1")
	case c.endpoints < 1 || c.endpoints > 100:
		return errors.New("-endpoints must be 1 to 100")
	case c.rounds < 1 || c.rounds > 20:
		return errors.New("-rounds must be 1 to 20")
	case c.duration < time.Second || c.duration > 10*time.Minute:
		return errors.New("-duration must be 1s to 10m")
	case c.warmup < 0 || c.settle < 0 || c.settle > time.Minute:
		return errors.New("-warmup must not be negative, -settle 0 to 1m")
	case c.changes < 0 || c.changes > 100000:
		return errors.New("-changes must be 0 to 100000")
	case c.pollEvery < 100*time.Microsecond || c.pollEvery > time.Second:
		return errors.New("-poll must be 100µs to 1s")
	case c.addFrac < 0 || c.addFrac > 10:
		return errors.New("-add-fraction must be 0 to 10")
	case c.firstAnswerN < 0 || c.firstAnswerN > maxServices:
		return fmt.Errorf("-first-answer-services must be 0 to %d", maxServices)
	case c.services+int(c.addFrac*float64(c.services)) > maxServices:
		return fmt.Errorf("-services with -add-fraction must stay under %d", maxServices)
	case c.flips < 0 || c.flips > 100000 || c.moves < 0 || c.moves > 100000 || c.latencyFlips < 0 || c.latencyFlips > 100000:
		return errors.New("-flips, -latency-flips and -moves must be 0 to 100000")
	case c.churnRate < 1 || c.churnRate > 10000:
		return errors.New("-churn-rate must be 1 to 10000")
	case c.seedWorkers < 1 || c.seedWorkers > 128:
		return errors.New("-seed-workers must be 1 to 128")
	case c.seed != "auto" && c.seed != "api" && c.seed != "etcd":
		return errors.New("-seed must be auto, api or etcd")
	case c.perf.clients < 1 || c.perf.threads < 1 || c.perf.outstanding < 1:
		return errors.New("dnsperf settings must be positive")
	}
	return nil
}

// maxServices is the most the bench seeds: the API server's service range
// (a /16) plus the ServiceCIDR the bench adds past 60,000 (see growTo).
const maxServices = 120000

// results is everything measured, by server name.
type results struct {
	n          int              // services at the first measurements
	idle       map[string]int64 // KiB of the binary serving nothing
	cold       []coldSet        // cold starts, by cluster size
	qps        map[string][]float64
	prog       map[string]*progResult
	heap       map[string][2]int64 // KiB of heap (alloc, in use) after sync, kubesvc and stock side by side
	churn      []churnSet          // by cluster size
	relist     []*relistResult     // by cluster size
	growth     []growthSet
	allocs     map[string]float64 // heap allocations per query under dnsperf, by server
	memLimit   string             // GOMEMLIMIT of the second growth measure, and where it came from
	perfIssues []string
}

// coldSet is the cold starts at one cluster size.
type coldSet struct {
	n     int
	first map[string][]time.Duration // process start to first correct answer
	rss   map[string][]int64         // KiB after sync and settle
	cpu   map[string][]time.Duration // CPU time used by the first correct answer
}

// run runs every phase in order; each needs the ones before it.
func run(c config) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = errors.New("interrupted")
		}
	}()
	if err := checkTools(&c); err != nil {
		return err
	}
	header(c)
	b := newBench(ctx, c)
	defer b.close()
	phases := []struct {
		name string
		run  func() error
	}{
		{"control plane", b.setup},
		{"seed", b.seed},
		{"idle", b.idlePhase},
		{"cold starts", func() error { return b.coldPhase(2 * time.Minute) }},
		{"throughput", b.throughputPhase},
		{"side by side", b.sideBySide},
		{"growth", b.growthPhase},
		{"large", b.largePhase},
	}
	for _, p := range phases {
		if err := p.run(); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	report(c, b.res, b.f)
	return b.gb.write(b.gobenchPath())
}

// checkTools finds the repository root and checks every binary the bench runs.
func checkTools(c *config) error {
	if c.root == "" {
		var err error
		if c.root, err = coredns.FindRoot(); err != nil {
			return err
		}
	}
	if err := coredns.CheckBinary(coredns.Binary(c.root)); err != nil {
		return fmt.Errorf("bin/coredns: %w", err)
	}
	if err := coredns.CheckBinary(filepath.Join(c.root, "bin", "coredns-stock")); err != nil {
		return fmt.Errorf("bin/coredns-stock: %w (build it with hack/build-stock.sh)", err)
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return errors.New("dnsperf not found: apt-get install -y dnsperf (hack/bench.sh installs it)")
	}
	if os.Getenv(cluster.AssetsEnv) == "" {
		os.Setenv(cluster.AssetsEnv, filepath.Join(c.root, "bin"))
	}
	return cluster.CheckAssets()
}
