package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

func median[T cmp.Ordered](xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2], true // odd counts (the default) give the true median
}

// percentile is the nearest-rank percentile p (0-100) of xs.
func percentile(xs []time.Duration, p float64) (time.Duration, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1], true
}

func fmtKB(kb int64) string { return fmt.Sprintf("%.1fMB", float64(kb)/1024) }

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
}

// ratio formats a/b, or "n/a".
func ratio(a, b float64, okA, okB bool) string {
	if !okA || !okB || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// stat is one cell's value: v is what ratios use.
type stat struct {
	v   float64
	ok  bool
	txt string
}

func na() stat { return stat{txt: "-"} }

func (r *results) qpsStat(k string) stat {
	m, ok := median(r.qps[k])
	if !ok {
		return na()
	}
	return stat{float64(m), true, fmt.Sprintf("%.0f", m)}
}

func fmtRatios(rs []float64) string {
	var parts []string
	for _, x := range rs {
		parts = append(parts, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(parts, " ")
}

func (r *results) qpsRange(k string) stat {
	if len(r.qps[k]) == 0 {
		return na()
	}
	return stat{txt: fmt.Sprintf("%.0f-%.0f", slices.Min(r.qps[k]), slices.Max(r.qps[k]))}
}

func rssStat(m map[string][]int64, k string) stat {
	v, ok := median(m[k])
	if !ok {
		return na()
	}
	return stat{float64(v), true, fmtKB(v)}
}

func durStat(m map[string][]time.Duration, k string) stat {
	v, ok := median(m[k])
	if !ok {
		return na()
	}
	return stat{float64(v), true, fmtDur(v)}
}

// roundRatio is the median over rounds of a's qps over b's in the same round:
// neighbours in time, so drift of the machine cancels.
func (r *results) roundRatio(a, b string) (float64, []float64, bool) {
	var rs []float64
	for i := range min(len(r.qps[a]), len(r.qps[b])) {
		if r.qps[b][i] > 0 {
			rs = append(rs, r.qps[a][i]/r.qps[b][i])
		}
	}
	m, ok := median(rs)
	return m, rs, ok
}

func (r *results) progStat(k string, p float64) stat {
	pr := r.prog[k]
	if pr == nil {
		return na()
	}
	v, ok := percentile(pr.all, p)
	if !ok {
		return na()
	}
	return stat{float64(v), true, fmtDur(v)}
}

// growStat is the KiB each service added under the running server cost, at
// the first growth, with the default GOGC.
func (r *results) growStat(k string) stat {
	if len(r.growth) == 0 {
		return na()
	}
	return kbStat(r.growth[0].kb, k)
}

func kbStat(m map[string]float64, k string) stat {
	v, ok := m[k]
	if !ok {
		return na()
	}
	return stat{v, true, fmt.Sprintf("%.2f", v)}
}

// overIdle is the median RSS after sync less the binary's idle RSS: the
// memory that holding the cluster's data costs.
func (r *results) overIdle(k string) stat {
	if len(r.cold) == 0 {
		return na()
	}
	v, ok := median(r.cold[0].rss[k])
	idle, ok2 := r.idle[k]
	if !ok || !ok2 {
		return na()
	}
	return stat{float64(v - idle), true, fmtKB(v - idle)}
}

// coldSlope is the KiB per service between the smallest and the largest
// cold-start sizes (median RSS after sync).
func (r *results) coldSlope(k string) stat {
	if len(r.cold) < 2 {
		return na()
	}
	a, b := r.cold[0], r.cold[len(r.cold)-1]
	va, ok := median(a.rss[k])
	vb, ok2 := median(b.rss[k])
	if !ok || !ok2 || b.n == a.n {
		return na()
	}
	v := float64(vb-va) / float64(b.n-a.n)
	return stat{v, true, fmt.Sprintf("%.2f", v)}
}

func report(c config, r *results, f *fleet) {
	servers := []string{"kubesvc", "stock", "ceiling"}
	var first coldSet
	if len(r.cold) > 0 {
		first = r.cold[0]
	}
	slopeHead := "KB/svc(cold)"
	if len(r.cold) > 1 {
		slopeHead = fmt.Sprintf("KB/svc(cold %d->%d)", r.cold[0].n, r.cold[len(r.cold)-1].n)
	}
	fmt.Printf("\n=== results: %d services (%d namespaces, %.0f%% headless x %d endpoints); medians of %d round(s) ===\n",
		r.n, c.namespaces, 100*c.headlessFrac, c.endpoints, c.rounds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join([]string{"server", "qps(median)", "qps(min-max)", "rss_after_sync", "rss_idle", "rss-idle",
		"first_answer", "prog_p50", "prog_p99", "KB/added_svc", slopeHead}, "\t"))
	for _, k := range servers {
		idle := na()
		if v, ok := r.idle[k]; ok {
			idle = stat{float64(v), true, fmtKB(v)}
		}
		cells := []stat{r.qpsStat(k), r.qpsRange(k), rssStat(first.rss, k), idle, r.overIdle(k), durStat(first.first, k),
			r.progStat(k, 50), r.progStat(k, 99), r.growStat(k), r.coldSlope(k)}
		row := []string{k}
		for _, s := range cells {
			row = append(row, s.txt)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	reportRatios(r, first, slopeHead)
	reportCold(c, r)
	reportSideBySide(c, r)
	reportProgByKind(r)
	reportNotes(c, r, f)
}

// reportRatios prints kubesvc's figures over stock's and the ceiling's.
func reportRatios(r *results, first coldSet, slopeHead string) {
	fmt.Println("ratios (qps: above 1 is better for kubesvc; everything else: below 1 is better):")
	line := func(what string, get func(string) stat, withCeiling bool) {
		ks, st, ce := get("kubesvc"), get("stock"), get("ceiling")
		s := fmt.Sprintf("  %-24s kubesvc/stock=%s", what, ratio(ks.v, st.v, ks.ok, st.ok))
		if withCeiling {
			s += fmt.Sprintf("  kubesvc/ceiling=%s", ratio(ks.v, ce.v, ks.ok, ce.ok))
		}
		fmt.Println(s)
	}
	if m, rs, ok := r.roundRatio("kubesvc", "stock"); ok {
		mc, rsc, _ := r.roundRatio("kubesvc", "ceiling")
		fmt.Printf("  %-24s kubesvc/stock=%.2f  kubesvc/ceiling=%.2f  (median of per-round ratios; per round: %s | %s)\n",
			"qps", m, mc, fmtRatios(rs), fmtRatios(rsc))
	}
	line("rss_after_sync", func(k string) stat { return rssStat(first.rss, k) }, true)
	line("rss-idle (data only)", r.overIdle, true)
	line("first_answer", func(k string) stat { return durStat(first.first, k) }, true)
	if r.prog != nil {
		line("prog_p50", func(k string) stat { return r.progStat(k, 50) }, false)
		line("prog_p99", func(k string) stat { return r.progStat(k, 99) }, false)
	}
	for _, g := range r.growth {
		line(fmt.Sprintf("KB/added_svc(%d+%d)", g.from, g.added), func(k string) stat { return kbStat(g.kb, k) }, false)
		line("  with GOMEMLIMIT", func(k string) stat { return kbStat(g.kb, k+"-memlimit") }, false)
	}
	if len(r.cold) > 1 {
		line(slopeHead, r.coldSlope, false)
	}
}

// reportCold prints the cold starts, by cluster size.
func reportCold(c config, r *results) {
	fmt.Printf("cold starts by cluster size (medians of %d): first correct answer; CPU time the process used by then; RSS %s after it\n", c.rounds, c.settle)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  services\tfirst: kubesvc\tstock\tceiling\tkubesvc/stock\tkubesvc/ceiling\tcpu: kubesvc\tstock\tkubesvc/stock\trss: kubesvc\tstock\tceiling\tkubesvc/stock")
	for _, set := range r.cold {
		trio := func(get func(string) stat) (a, b, c stat) { return get("kubesvc"), get("stock"), get("ceiling") }
		ks, st, ce := trio(func(k string) stat { return durStat(set.first, k) })
		ck, cs, _ := trio(func(k string) stat { return durStat(set.cpu, k) })
		rk, rst, rc := trio(func(k string) stat { return rssStat(set.rss, k) })
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", set.n,
			ks.txt, st.txt, ce.txt, ratio(ks.v, st.v, ks.ok, st.ok), ratio(ks.v, ce.v, ks.ok, ce.ok),
			ck.txt, cs.txt, ratio(ck.v, cs.v, ck.ok, cs.ok),
			rk.txt, rst.txt, rc.txt, ratio(rk.v, rst.v, rk.ok, rst.ok))
	}
	tw.Flush()
}

// reportProgByKind prints the programming latency by kind of change.
func reportProgByKind(r *results) {
	if r.prog != nil {
		fmt.Println("programming latency p50 / p99 by change (ms):")
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  server\t"+strings.Join(changeKinds, "\t")+"\tall\tmissed")
		for _, k := range []string{"kubesvc", "stock"} {
			pr := r.prog[k]
			if pr == nil {
				continue
			}
			row := []string{"  " + k}
			for _, ck := range append(slices.Clone(changeKinds), "all") {
				xs := pr.byKind[ck]
				if ck == "all" {
					xs = pr.all
				}
				p50, ok := percentile(xs, 50)
				p99, _ := percentile(xs, 99)
				if !ok {
					row = append(row, "-")
					continue
				}
				row = append(row, fmt.Sprintf("%.1f/%.1f (n=%d)", float64(p50)/1e6, float64(p99)/1e6, len(xs)))
			}
			row = append(row, fmt.Sprint(pr.missed))
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
	}
}

// reportNotes says how each figure was taken, and what went wrong.
func reportNotes(c config, r *results, f *fleet) {
	fmt.Println("notes:")
	fmt.Printf("  qps: %s; %s per run, servers alternated per round; no cache plugin anywhere.\n", c.perf, c.duration)
	fmt.Println("  ceiling: bin/coredns with hosts (all names; every endpoint of a headless name) falling through to a file")
	fmt.Println("    zone holding only the apex, so missing names get NXDOMAIN with the SOA as from the Kubernetes plugins.")
	fmt.Println("  stock runs with the admin kubeconfig (it also lists/watches Namespaces); kubesvc with the list/watch-only user.")
	fmt.Printf("  rss: VmRSS %s after the first correct answer (cold start); rss_idle: the binary serving only whoami;\n", c.settle)
	fmt.Println("    rss-idle is what the data costs (bin/coredns-stock carries every stock plugin, bin/coredns a few).")
	fmt.Printf("  first_answer: process start to the first correct answer for the last ClusterIP and headless names, polled every 2ms.\n")
	if r.prog != nil {
		fmt.Printf("  prog: API write returned -> first correct answer, polled every %s, kubesvc and stock at once; %d changes", c.pollEvery, c.changes)
		if at := progSwapAt(c.changes); at > 0 {
			fmt.Printf(",\n    %d with the servers' watches registered at the API server in one order, the rest in the other (see swapWatchOrder).\n", at)
		} else {
			fmt.Println(".")
		}
	}
	if len(r.growth) > 0 {
		fmt.Println("  KB/added_svc: VmRSS growth of running servers over the added services (same mix); read before and after")
		fmt.Printf("    alike: after a 2s query burst and %s settle. Go's heap slack makes it noisy; KB/svc(cold) is the slope of\n", c.settle)
		fmt.Println("    the cold-start RSS between cluster sizes, a cross-check.")
	}
	if len(r.perfIssues) > 0 {
		fmt.Println("PROBLEMS in dnsperf runs:")
		for _, p := range r.perfIssues {
			fmt.Println("  " + p)
		}
	}
	f.mu.Lock()
	logs := slices.Clone(f.logs)
	f.mu.Unlock()
	if len(logs) > 0 {
		fmt.Println("server log lines worth a look:")
		for _, l := range logs {
			fmt.Println("  " + l)
		}
	} else {
		fmt.Println("server logs: no errors or warnings.")
	}
}
