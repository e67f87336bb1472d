// Command bench is the `make bench` driver. On a real control plane (kube-
// apiserver and etcd through envtest; binaries from KUBEBUILDER_ASSETS,
// default <repo>/bin) seeded with N Services, it compares three CoreDNS
// servers answering the same names:
//
//   - kubesvc: bin/coredns with the kubesvc plugin;
//   - stock:   bin/coredns-stock (hack/build-stock.sh), stock CoreDNS with its
//     kubernetes plugin;
//   - ceiling: bin/coredns answering the same names from a hosts file, the
//     most the framework can do.
//
// It measures, per server: queries/s under dnsperf (rounds alternate the
// servers, so drift cancels), resident memory after sync, the time from
// process start to the first correct answer, the DNS programming latency
// (API write returned to first correct answer, polled every millisecond),
// the memory each added Service costs, and the time to the first correct
// answer at a larger size. It prints one table with the kubesvc/stock and
// kubesvc/ceiling ratios. Every server listens on 127.0.0.1 and every query
// goes there.
//
// It builds nothing: `make bench` builds bin/coredns, the control plane and
// bin/coredns-stock, and installs dnsperf, first (see hack/bench.sh).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
	perf         perfOpts
	quick        bool
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
	fs.Float64Var(&c.addFrac, "add-fraction", 0.4, "memory growth: add this fraction of -services under the running servers (0: skip)")
	fs.IntVar(&c.firstAnswerN, "first-answer-services", 0, "long run: grow the cluster to this many Services (e.g. 20000) and time cold starts again; seeding takes about 10 minutes for 20000 on 2 cores (0: skip)")
	fs.IntVar(&c.seedWorkers, "seed-workers", 16, "parallel API writers while seeding")
	fs.IntVar(&c.perf.clients, "dnsperf-clients", 8, "dnsperf -c")
	fs.IntVar(&c.perf.threads, "dnsperf-threads", 1, "dnsperf -T")
	fs.IntVar(&c.perf.outstanding, "dnsperf-outstanding", 100, "dnsperf -q")
	fs.BoolVar(&c.quick, "quick", false, "smoke test (under 3 minutes): -services 500 -duration 3s -rounds 1 -warmup 500ms -settle 1s -changes 60 -first-answer-services 1000, each unless given")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{
			"services": "500", "duration": "3s", "rounds": "1", "warmup": "500ms",
			"settle": "1s", "changes": "60", "first-answer-services": "1000",
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
	case c.firstAnswerN < 0 || c.firstAnswerN > 60000:
		return errors.New("-first-answer-services must be 0 to 60000 (the service range is a /16)")
	case c.services+int(c.addFrac*float64(c.services)) > 60000:
		return errors.New("-services with -add-fraction must stay under 60000")
	case c.seedWorkers < 1 || c.seedWorkers > 128:
		return errors.New("-seed-workers must be 1 to 128")
	case c.perf.clients < 1 || c.perf.threads < 1 || c.perf.outstanding < 1:
		return errors.New("dnsperf settings must be positive")
	}
	return nil
}

// results is everything measured, by server name.
type results struct {
	n           int              // services at the first measurements
	idle        map[string]int64 // KiB of the binary serving nothing
	cold        []coldSet        // cold starts, by cluster size
	qps         map[string][]float64
	prog        map[string]*progResult
	added       int
	growKB      map[string]float64 // KiB per added service, running servers
	addedLarge  int                // services added on the way to -first-answer-services
	growLargeKB map[string]float64 // KiB per service of those, running servers
	perfIssues  []string
}

// coldSet is the cold starts at one cluster size.
type coldSet struct {
	n     int
	first map[string][]time.Duration // process start to first correct answer
	rss   map[string][]int64         // KiB after sync and settle
	cpu   map[string][]time.Duration // CPU time used by the first correct answer
}

func run(c config) (err error) {
	if c.root == "" {
		var err error
		if c.root, err = coredns.FindRoot(); err != nil {
			return err
		}
	}
	bin := coredns.Binary(c.root)
	stockBin := filepath.Join(c.root, "bin", "coredns-stock")
	if err := coredns.CheckBinary(bin); err != nil {
		return fmt.Errorf("bin/coredns: %w", err)
	}
	if err := coredns.CheckBinary(stockBin); err != nil {
		return fmt.Errorf("bin/coredns-stock: %w (build it with hack/build-stock.sh)", err)
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return errors.New("dnsperf not found: apt-get install -y dnsperf (hack/bench.sh installs it)")
	}
	if os.Getenv(cluster.AssetsEnv) == "" {
		os.Setenv(cluster.AssetsEnv, filepath.Join(c.root, "bin"))
	}
	if err := cluster.CheckAssets(); err != nil {
		return err
	}

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

	header(c)
	began := time.Now()
	logf := func(format string, args ...any) {
		fmt.Printf("[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}

	work, err := os.MkdirTemp("", "kubesvc-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	logf("starting kube-apiserver and etcd from %s", os.Getenv(cluster.AssetsEnv))
	cpOut := &coredns.Buffer{}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	kube, err := cluster.Start(startCtx, cluster.Options{Output: cpOut})
	cancel()
	if err != nil {
		return fmt.Errorf("%w\ncontrol plane output:\n%s", err, tail(cpOut.String(), 30))
	}
	defer func() {
		logf("stopping the control plane")
		if err := kube.Stop(); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "bench: stop control plane:", err)
		}
	}()
	f := newFleet()
	defer f.stopAll()

	kubesvcKC, err := kube.CoreDNSKubeconfig("coredns.kubeconfig", "")
	if err != nil {
		return err
	}
	// The stock plugin also lists and watches Namespaces, which the
	// least-privilege user may not: it runs as the admin.
	stockKC, err := kube.AdminKubeconfig("admin.kubeconfig")
	if err != nil {
		return err
	}
	client, err := fastClient(kube.Admin)
	if err != nil {
		return err
	}

	hostsPath := filepath.Join(work, "hosts")
	zonePath := filepath.Join(work, "cluster.local.zone")
	queryPath := filepath.Join(work, "queries.txt")
	if err := os.WriteFile(zonePath, []byte(zoneFile), 0o644); err != nil {
		return err
	}
	ks := &kind{name: "kubesvc", binary: bin, corefile: kubesvcCorefile(kubesvcKC)}
	st := &kind{name: "stock", binary: stockBin, corefile: stockCorefile(stockKC)}
	ce := &kind{name: "ceiling", binary: bin, corefile: ceilingCorefile(hostsPath, zonePath)}
	kinds := []*kind{ks, st, ce}

	d := &dataset{namespaces: c.namespaces, headlessFrac: c.headlessFrac, endpoints: c.endpoints}
	seed := func(n int) error {
		svcs := d.plan(n)
		if err := createServices(ctx, client, svcs, c.seedWorkers, logf); err != nil {
			return err
		}
		d.add(svcs)
		return writeHosts(hostsPath, d.svcs)
	}

	res := &results{idle: map[string]int64{}, qps: map[string][]float64{}, growKB: map[string]float64{}}

	// --- seed -----------------------------------------------------------------
	if err := ensureNamespaces(ctx, client, c.namespaces); err != nil {
		return err
	}
	logf("seeding %d services over %d namespaces (%d headless with %d endpoints each, EndpointSlices by hand)",
		c.services, c.namespaces, len(filterHeadless(d.plan(c.services))), c.endpoints)
	if err := seed(c.services); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	res.n = len(d.svcs)
	lines, err := writeQueries(queryPath, d.svcs, c.namespaces)
	if err != nil {
		return err
	}
	logf("query file: %d A queries, %d of them for missing names (1 in 9)", lines, len(d.svcs)/8)

	// --- idle binaries --------------------------------------------------------
	for _, k := range []*kind{ks, st} {
		kb, err := idleRSS(ctx, f, k.binary, c.settle)
		if err != nil {
			return fmt.Errorf("idle %s: %w", k.name, err)
		}
		res.idle[k.name] = kb
	}
	res.idle[ce.name] = res.idle[ks.name] // the same binary
	logf("idle RSS (whoami only): bin/coredns %s, bin/coredns-stock %s", fmtKB(res.idle[ks.name]), fmtKB(res.idle[st.name]))

	// --- cold starts ----------------------------------------------------------
	coldAt := func(timeout time.Duration) error {
		set := coldSet{n: len(d.svcs), first: map[string][]time.Duration{}, rss: map[string][]int64{}, cpu: map[string][]time.Duration{}}
		logf("cold starts at %d services: %d round(s) x %d servers", set.n, c.rounds, len(kinds))
		if err := coldStarts(ctx, f, kinds, probes(d.svcs), c.rounds, c.settle, timeout, &set, logf); err != nil {
			return err
		}
		res.cold = append(res.cold, set)
		return nil
	}
	if err := coldAt(2 * time.Minute); err != nil {
		return err
	}

	// --- throughput -------------------------------------------------------------
	logf("throughput: %d round(s) x %d servers x %s; %s", c.rounds, len(kinds), c.duration, c.perf)
	live := map[string]*running{}
	for _, k := range kinds {
		r, _, err := f.start(ctx, k, probes(d.svcs), 2*time.Minute)
		if err != nil {
			return err
		}
		live[k.name] = r
	}
	if c.warmup > 0 {
		for _, k := range kinds {
			if _, err := runDNSPerf(ctx, c.perf, portOf(live[k.name]), queryPath, c.warmup); err != nil {
				return fmt.Errorf("%s warm-up: %w", k.name, err)
			}
		}
	}
	for round := range c.rounds {
		for _, k := range rotate(kinds, round) {
			cpu0 := readCPU()
			r, err := runDNSPerf(ctx, c.perf, portOf(live[k.name]), queryPath, c.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			busy, steal := readCPU().since(cpu0)
			res.qps[k.name] = append(res.qps[k.name], r.qps)
			note := ""
			if p := r.check(); p != "" {
				note = "  PROBLEM: " + p
				res.perfIssues = append(res.perfIssues, fmt.Sprintf("%s round %d: %s", k.name, round+1, p))
			}
			logf("  round %d %-8s %9.0f q/s  avg latency %.2fms  cpu busy %.0f%% steal %.1f%%  NOERROR %d NXDOMAIN %d%s",
				round+1, k.name, r.qps, 1000*r.avgLatency, busy, steal, r.rcodes["NOERROR"], r.rcodes["NXDOMAIN"], note)
		}
	}
	f.stop(live[ce.name])
	delete(live, ce.name)
	pair := []*running{live[ks.name], live[st.name]}

	// --- programming latency --------------------------------------------------
	if c.changes > 0 {
		logf("DNS programming latency: %d changes, kubesvc and stock watching at once, polled every %s", c.changes, c.pollEvery)
		if res.prog, err = progPhase(ctx, client, pair, c.changes, c.pollEvery, logf); err != nil {
			return err
		}
	}

	// --- memory growth -----------------------------------------------------------
	// growth adds add services under the running servers of pair and returns
	// the RSS each grew by, per added service. RSS is read the same way before
	// and after: after a short burst of queries (the garbage collector then
	// runs at its steady pace) and a settle, so the heap's slack counts the
	// same both times.
	growth := func(pair []*running, add int) (map[string]float64, error) {
		measure := func() (map[string]int64, error) {
			out := map[string]int64{}
			for _, r := range pair {
				if _, err := runDNSPerf(ctx, c.perf, portOf(r), queryPath, 2*time.Second); err != nil {
					return nil, fmt.Errorf("%s: %w", r.kind.name, err)
				}
			}
			if err := sleep(ctx, c.settle); err != nil {
				return nil, err
			}
			for _, r := range pair {
				kb, err := rssKB(r.srv.Pid())
				if err != nil {
					return nil, err
				}
				out[r.kind.name] = kb
			}
			return out, nil
		}
		before, err := measure()
		if err != nil {
			return nil, err
		}
		if err := seed(add); err != nil {
			return nil, fmt.Errorf("grow: %w", err)
		}
		for _, r := range pair {
			if _, err := waitCorrect(ctx, r.addr, probes(d.svcs), 20*time.Millisecond, time.Now().Add(3*time.Minute), r.srv.Exited()); err != nil {
				return nil, fmt.Errorf("%s after growth: %w", r.kind.name, err)
			}
		}
		if _, err := writeQueries(queryPath, d.svcs, c.namespaces); err != nil {
			return nil, err
		}
		after, err := measure()
		if err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, r := range pair {
			k := r.kind.name
			out[k] = float64(after[k]-before[k]) / float64(add)
			logf("  %-8s RSS %s -> %s: %.2f KB per added service", k, fmtKB(before[k]), fmtKB(after[k]), out[k])
		}
		return out, nil
	}
	if add := int(c.addFrac * float64(c.services)); add > 0 {
		logf("memory growth: +%d services under the running kubesvc and stock", add)
		if res.growKB, err = growth(pair, add); err != nil {
			return err
		}
		res.added = add
		for _, r := range pair {
			f.stop(r)
		}
		pair = nil
		if err := coldAt(2 * time.Minute); err != nil {
			return err
		}
	}
	for _, r := range pair {
		f.stop(r)
	}

	// --- cold starts at a larger size -------------------------------------------
	// The growth to that size runs under a fresh kubesvc and stock: a second,
	// larger measure of the memory an added service costs.
	if c.firstAnswerN > len(d.svcs) {
		more := c.firstAnswerN - len(d.svcs)
		logf("growing to %d services under a fresh kubesvc and stock (+%d; kube-apiserver's ClusterIP allocator costs O(services) per create, so this is slow)", c.firstAnswerN, more)
		pair = nil
		for _, k := range []*kind{ks, st} {
			r, _, err := f.start(ctx, k, probes(d.svcs), 2*time.Minute)
			if err != nil {
				return err
			}
			pair = append(pair, r)
		}
		if res.growLargeKB, err = growth(pair, more); err != nil {
			return err
		}
		res.addedLarge = more
		for _, r := range pair {
			f.stop(r)
		}
		if err := coldAt(5 * time.Minute); err != nil {
			return err
		}
	}

	report(c, res, f)
	return nil
}

// coldStarts starts each server rounds times (order rotated per round), and
// records in set the time to the first correct answer, the CPU time used by
// then and the RSS after settle.
func coldStarts(ctx context.Context, f *fleet, kinds []*kind, es []expect, rounds int, settle, timeout time.Duration, set *coldSet, logf func(string, ...any)) error {
	for round := range rounds {
		for _, k := range rotate(kinds, round) {
			r, took, err := f.start(ctx, k, es, timeout)
			if err != nil {
				return err
			}
			if err := sleep(ctx, settle); err != nil {
				f.stop(r)
				return err
			}
			kb, err := rssKB(r.srv.Pid())
			f.stop(r)
			if err != nil {
				return err
			}
			set.first[k.name] = append(set.first[k.name], took)
			set.rss[k.name] = append(set.rss[k.name], kb)
			set.cpu[k.name] = append(set.cpu[k.name], r.firstCPU)
			logf("  round %d %-8s first correct answer after %s (CPU used %s), RSS %s", round+1, k.name, took.Round(time.Millisecond), r.firstCPU, fmtKB(kb))
		}
	}
	return nil
}

// idleRSS is the RSS of binary serving only whoami.
func idleRSS(ctx context.Context, f *fleet, binary string, settle time.Duration) (int64, error) {
	k := &kind{name: "idle " + filepath.Base(binary), binary: binary, corefile: idleCorefile}
	for attempt := 1; ; attempt++ {
		r, err := f.launch(k)
		if err != nil {
			return 0, err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = r.srv.WaitServing(wctx)
		cancel()
		if err == nil {
			err = sleep(ctx, settle)
		}
		var kb int64
		if err == nil {
			kb, err = rssKB(r.srv.Pid())
		}
		log := r.srv.Log()
		f.stop(r)
		if err != nil && strings.Contains(log, "address already in use") && attempt < 4 {
			continue
		}
		return kb, err
	}
}

func rotate(kinds []*kind, n int) []*kind {
	out := make([]*kind, len(kinds))
	for i := range kinds {
		out[i] = kinds[(i+n)%len(kinds)]
	}
	return out
}

func portOf(r *running) int { return r.srv.Ports.DNS }

func filterHeadless(svcs []service) []service {
	var out []service
	for _, s := range svcs {
		if s.headless {
			out = append(out, s)
		}
	}
	return out
}

// fastClient is an admin clientset that is not throttled and speaks protobuf,
// for seeding.
func fastClient(admin *rest.Config) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = 5000, 10000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfig(cfg)
}

// header prints the machine, the command and the settings.
func header(c config) {
	fmt.Println("kubesvc benchmark: kubesvc (bin/coredns) vs stock kubernetes plugin (bin/coredns-stock) vs hosts ceiling (bin/coredns)")
	if cmd := os.Getenv("KUBESVC_BENCH_COMMAND"); cmd != "" {
		fmt.Printf("command: %s\n", cmd)
	} else {
		fmt.Printf("command: cd e2e && go run ./cmd/bench%s\n", argString(os.Args[1:]))
	}
	fmt.Printf("machine: %d CPUs (nproc), %s, %s, load average at start %s, %s\n",
		runtime.NumCPU(), cpuModel(), memTotal(), loadAvg(), runtime.Version())
	large := "no large cold start (-first-answer-services)"
	if c.firstAnswerN > 0 {
		large = fmt.Sprintf("large cold start at %d services", c.firstAnswerN)
	}
	fmt.Printf("settings: %d services (%.0f%% headless x %d endpoints) over %d namespaces; %d round(s) x %s per server; "+
		"settle %s; %d changes; growth +%.0f%%; %s\n",
		c.services, 100*c.headlessFrac, c.endpoints, c.namespaces, c.rounds, c.duration, c.settle, c.changes, 100*c.addFrac, large)
	fmt.Println()
}

func argString(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "memory unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return "memory unknown"
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// findRoot walks up from the working directory to the directory whose go.mod
// is the plugin's module.
