package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
)

// reportSideBySide prints what kubesvc and stock did watching the same API
// server at once: heap, churn, relist and memory growth.
func reportSideBySide(c config, r *results) {
	if h := r.heap; h != nil {
		ks, st := h["kubesvc"], h["stock"]
		fmt.Printf("heap after sync (go_memstats_heap_alloc_bytes / heap_inuse_bytes): kubesvc %s / %s, stock %s / %s, kubesvc/stock %s / %s\n",
			fmtKB(ks[0]), fmtKB(ks[1]), fmtKB(st[0]), fmtKB(st[1]),
			ratio(float64(ks[0]), float64(st[0]), true, true), ratio(float64(ks[1]), float64(st[1]), true, true))
	}
	if len(r.allocs) > 0 {
		fmt.Printf("heap allocations per query under dnsperf (go_memstats_mallocs_total; CoreDNS's and the prometheus plugin's included):")
		for _, k := range []string{"kubesvc", "stock", "kubesvc-memlimit", "stock-memlimit"} {
			if v, ok := r.allocs[k]; ok {
				fmt.Printf(" %s %.2f", k, v)
			}
		}
		fmt.Println()
	}
	reportChurn(r.churn)
	for _, rl := range r.relist {
		reportRelist(rl)
	}
	reportGrowth(r)
}

// percentileRows prints the p50 and p99 rows of latencies by server at n
// services: label takes the percentile, the counts by server and the
// counts of what was left out (left).
func percentileRows(tw io.Writer, n int, label string, lat map[string][]time.Duration, left map[string]int) {
	for _, p := range []float64{50, 99} {
		ks, ok1 := percentile(lat["kubesvc"], p)
		st, ok2 := percentile(lat["stock"], p)
		if ok1 || ok2 {
			what := fmt.Sprintf(label, p, len(lat["kubesvc"]), len(lat["stock"]), left["kubesvc"], left["stock"])
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", n, what, fmtDur(ks), fmtDur(st), ratio(float64(ks), float64(st), ok1, ok2))
		}
	}
}

// reportChurn prints CPU per change, latency under flips and the SOA serial.
func reportChurn(churn []churnSet) {
	if len(churn) > 0 {
		fmt.Println("churn: CPU time per EndpointSlice change (all threads' run time from /proc, over the changes and until both answer the last,")
		fmt.Println("  less the server's idle CPU over as long: the median of 5 one-second samples just before);")
		fmt.Println("  programming latency of services created one at a time while the flips run (p50/p99), the flips in two halves, each with the servers' watches registered in one order;")
		fmt.Println("  past the proxy: from each server's proxy passing on the create's event to its first correct answer (the server's own part);")
		fmt.Println("  pinned apart: the same again, each server's threads on half the CPUs (swapped between the halves), as in a cluster where they share none")
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  services\tmeasure\tkubesvc\tstock\tkubesvc/stock")
		for _, s := range churn {
			cpuRow := func(what string, n int, m map[string]time.Duration) {
				if n > 0 {
					fmt.Fprintf(tw, "  %d\t%s (%d)\t%s\t%s\t%s\n", s.n, what, n, fmtCPU(m["kubesvc"]), fmtCPU(m["stock"]),
						ratio(float64(m["kubesvc"]), float64(m["stock"]), true, true))
				}
			}
			cpuRow(fmt.Sprintf("CPU/flip, %d-endpoint headless", bigEndpoints), s.flips, s.flipCPU)
			cpuRow("CPU/move, behind ClusterIP", s.moves, s.moveCPU)
			percentileRows(tw, s.n, "prog p%.0f under flips (n=%d/%d, missed %d/%d)", s.underChurn, s.missedUnder)
			percentileRows(tw, s.n, "past the proxy p%.0f (n=%d/%d, not seen %d/%d)", s.pastProxy, s.unspotted)
			if p := s.pinned; p != nil {
				percentileRows(tw, s.n, "pinned apart: prog p%.0f (n=%d/%d, missed %d/%d)", p.underChurn, p.missedUnder)
				percentileRows(tw, s.n, "pinned apart: past the proxy p%.0f (n=%d/%d, not seen %d/%d)", p.pastProxy, p.unspotted)
			}
		}
		tw.Flush()
		for _, s := range churn {
			comparedPairs(s.n, "", &s.latencySet)
			comparedPairs(s.n, ", the servers on CPUs apart", s.pinned)
		}
		for _, s := range churn {
			if s.soa != nil {
				ks, st := s.soa["kubesvc"], s.soa["stock"]
				fmt.Printf("  SOA serial during %d more moves and 1s after at %d services (no answer changed): kubesvc moved=%t (%d -> %d, %d polls), stock moved=%t (%d -> %d)\n",
					s.soaMoves, s.n, ks.moved, ks.before, ks.last, ks.polls, st.moved, st.before, st.last)
			}
		}
	}
}

// comparedPairs prints the paired summaries of l (none if nil) at n
// services; how says how they were timed.
func comparedPairs(n int, how string, l *latencySet) {
	if l == nil {
		return
	}
	if len(l.pairedUnder) > 0 {
		fmt.Printf("  under flips at %d services%s, %s\n", n, how, comparePairs(l.pairedUnder, l.pollEvery))
	}
	if len(l.pairedPast) > 0 {
		fmt.Printf("  past the proxies at %d services%s, %s\n", n, how, comparePairs(l.pairedPast, l.pollEvery))
	}
}

// reportRelist prints one relist's peak memory and wrong answers.
func reportRelist(rl *relistResult) {
	fmt.Printf("relist at %d services (every watch cut, resumes from before it answered 410 Gone; back and answering after %s;\n  %s):\n",
		rl.n, fmtDur(rl.took), rl.progress)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  server\tsteady RSS\tpeak RSS\tpeak/steady\twrong answers")
	for _, k := range []string{"kubesvc", "stock"} {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d of %d\n", k, fmtKB(rl.steady[k]), fmtKB(rl.peak[k]),
			ratio(float64(rl.peak[k]), float64(rl.steady[k]), true, rl.steady[k] > 0), rl.wrong[k], rl.asked[k])
	}
	fmt.Fprintf(tw, "  kubesvc/stock\t%s\t%s\t\t\n", ratio(float64(rl.steady["kubesvc"]), float64(rl.steady["stock"]), true, true),
		ratio(float64(rl.peak["kubesvc"]), float64(rl.peak["stock"]), true, true))
	tw.Flush()
	fmt.Println("  (the cut watches log \"watch ended with error\" in both servers: expected, listed below)")
	for _, k := range []string{"kubesvc", "stock"} {
		if rl.firstWrong[k] != "" {
			fmt.Printf("  %s first wrong answer: %s\n", k, rl.firstWrong[k])
		}
	}
}

// reportGrowth prints the memory each added service cost.
func reportGrowth(r *results) {
	if len(r.growth) > 0 {
		fmt.Printf("memory per service added under running servers: KB of VmRSS, B of heap in use, B of live heap (after a collection), KB of RssAnon (VmRSS less the binary's pages); GOMEMLIMIT %s\n", r.memLimit)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  services\tGo settings\tRSS KB: kubesvc\tstock\tkubesvc/stock\theap B: kubesvc\tstock\tkubesvc/stock\tlive B: kubesvc\tstock\tanon KB: kubesvc\tstock")
		for _, g := range r.growth {
			for _, set := range []struct{ name, suffix string }{{"GOGC=100", ""}, {"GOMEMLIMIT", "-memlimit"}} {
				ks, st := g.kb["kubesvc"+set.suffix], g.kb["stock"+set.suffix]
				hk, hs := g.heapB["kubesvc"+set.suffix], g.heapB["stock"+set.suffix]
				lk, ls := g.liveB["kubesvc"+set.suffix], g.liveB["stock"+set.suffix]
				ak, as := g.anonKB["kubesvc"+set.suffix], g.anonKB["stock"+set.suffix]
				fmt.Fprintf(tw, "  %d->%d\t%s\t%.2f\t%.2f\t%s\t%.0f\t%.0f\t%s\t%.0f\t%.0f\t%.2f\t%.2f\n", g.from, g.from+g.added, set.name,
					ks, st, ratio(ks, st, true, true), hk, hs, ratio(hk, hs, true, true), lk, ls, ak, as)
			}
		}
		tw.Flush()
	}
}
