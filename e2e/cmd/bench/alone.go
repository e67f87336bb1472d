package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// The phases that run one server at a time: idle memory, cold starts and
// queries/s.

// idlePhase measures each binary serving only whoami.
func (b *bench) idlePhase() error {
	for _, k := range []*kind{b.ks, b.st} {
		kb, err := idleRSS(b.ctx, b.f, k.binary, b.c.settle)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		b.res.idle[k.name] = kb
	}
	b.res.idle[b.ce.name] = b.res.idle[b.ks.name] // the same binary
	b.logf("idle RSS (whoami only): bin/coredns %s, bin/coredns-stock %s", fmtKB(b.res.idle[b.ks.name]), fmtKB(b.res.idle[b.st.name]))
	return nil
}

// coldPhase starts each server -rounds times at the current size.
func (b *bench) coldPhase(timeout time.Duration) error {
	set := coldSet{n: len(b.d.svcs), first: map[string][]time.Duration{}, rss: map[string][]int64{}, cpu: map[string][]time.Duration{}}
	kinds := []*kind{b.ks, b.st, b.ce}
	b.logf("cold starts at %d services: %d round(s) x %d servers", set.n, b.c.rounds, len(kinds))
	if err := coldStarts(b.ctx, b.f, kinds, b.probes(), b.c.rounds, b.c.settle, timeout, &set, b.logf); err != nil {
		return err
	}
	b.res.cold = append(b.res.cold, set)
	b.gb.cold(set)
	return nil
}

// throughputPhase runs dnsperf against each server, -rounds times in
// rotating order.
func (b *bench) throughputPhase() error {
	c := b.c
	kinds := []*kind{b.ks, b.st, b.ce}
	b.logf("throughput: %d round(s) x %d servers x %s; %s", c.rounds, len(kinds), c.duration, c.perf)
	live := map[string]*running{}
	defer func() {
		for _, r := range live {
			b.f.stop(r)
		}
	}()
	for _, k := range kinds {
		r, _, err := b.f.start(b.ctx, k, b.probes(), 2*time.Minute)
		if err != nil {
			return err
		}
		live[k.name] = r
	}
	if c.warmup > 0 {
		for _, k := range kinds {
			if _, err := runDNSPerf(b.ctx, c.perf, portOf(live[k.name]), b.queryPath, c.warmup); err != nil {
				return fmt.Errorf("%s warm-up: %w", k.name, err)
			}
		}
	}
	for round := range c.rounds {
		for _, k := range rotate(kinds, round) {
			cpu0 := readCPU()
			r, err := runDNSPerf(b.ctx, c.perf, portOf(live[k.name]), b.queryPath, c.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			busy, steal := readCPU().since(cpu0)
			b.res.qps[k.name] = append(b.res.qps[k.name], r.qps)
			b.gb.add("QPS", "server="+k.name, 1, r.qps, "queries/s")
			note := ""
			if p := r.check(); p != "" {
				note = "  PROBLEM: " + p
				b.res.perfIssues = append(b.res.perfIssues, fmt.Sprintf("%s round %d: %s", k.name, round+1, p))
			}
			b.logf("  round %d %-8s %9.0f q/s  avg latency %.2fms  cpu busy %.0f%% steal %.1f%%  NOERROR %d NXDOMAIN %d%s",
				round+1, k.name, r.qps, 1000*r.avgLatency, busy, steal, r.rcodes["NOERROR"], r.rcodes["NXDOMAIN"], note)
		}
	}
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
