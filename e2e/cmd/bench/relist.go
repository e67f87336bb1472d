package main

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// relistResult is the relist phase's measures, by server.
type relistResult struct {
	n            int
	took         time.Duration // expire to every watch back and settled
	steady, peak map[string]int64
	asked, wrong map[string]int
	firstWrong   map[string]string
	progress     relistProgress
}

// relistPhase forces every watch of pair to relist (relistProxy.expire)
// and measures each server's peak resident memory against its steady
// state, while asking it for known names throughout.
func (b *bench) relistPhase(pair []*running) error {
	b.logf("relist: every watch cut and expired (410 Gone, as after an API server restart); RSS sampled, names asked throughout")
	res := &relistResult{n: len(b.d.svcs), steady: map[string]int64{}, peak: map[string]int64{},
		asked: map[string]int{}, wrong: map[string]int{}, firstWrong: map[string]string{}}
	for _, r := range pair {
		kb, err := steadyRSS(r)
		if err != nil {
			return err
		}
		res.steady[r.kind.name], res.peak[r.kind.name] = kb, kb
		_ = resetPeakRSS(r.srv.Pid()) // VmHWM from here; without it the samples alone
	}
	var (
		mu   sync.Mutex
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	es := b.relistProbes()
	for _, r := range pair {
		name, pid := r.kind.name, r.srv.Pid()
		wg.Go(func() { // RSS every 5 ms
			for {
				if kb, err := rssKB(pid); err == nil {
					mu.Lock()
					res.peak[name] = max(res.peak[name], kb)
					mu.Unlock()
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
		wg.Go(func() { // the names, round and round
			p := newProber(r.addr)
			defer p.close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := es[i%len(es)]
				m, err := p.ask(e)
				mu.Lock()
				res.asked[name]++
				if err != nil || !e.ok(m) {
					res.wrong[name]++
					if res.firstWrong[name] == "" {
						res.firstWrong[name] = fmt.Sprintf("want %s; got %s", e, brief(m, err))
					}
				}
				mu.Unlock()
				time.Sleep(time.Millisecond) // a steady trickle, not a load
			}
		})
	}
	err := b.expireAndWait(pair, res)
	close(stop)
	wg.Wait()
	b.px.settle()
	if err != nil {
		return err
	}
	for _, r := range pair {
		if kb, err := peakRSSKB(r.srv.Pid()); err == nil {
			res.peak[r.kind.name] = max(res.peak[r.kind.name], kb)
		}
		k := r.kind.name
		b.logf("  %-8s RSS steady %s, peak %s (%.2fx); %d of %d answers wrong%s", k, fmtKB(res.steady[k]), fmtKB(res.peak[k]),
			float64(res.peak[k])/float64(res.steady[k]), res.wrong[k], res.asked[k], ifNotEmpty("; first: ", res.firstWrong[k]))
	}
	b.res.relist = append(b.res.relist, res)
	b.gb.relist(res)
	return nil
}

// expireAndWait bumps the resource version (a ConfigMap write), expires
// every resource version before it, and waits until every cut watch is
// watching again and every server answers a headless service created after
// the cut (so its informers hold the new lists: a streaming list looks like
// any other watch), plus the settle.
func (b *bench) expireAndWait(pair []*running, res *relistResult) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "relist-mark-", Namespace: nsName(0)}}
	cm, err := b.client.CoreV1().ConfigMaps(cm.Namespace).Create(b.ctx, cm, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	rv, err := strconv.ParseInt(cm.ResourceVersion, 10, 64)
	if err != nil {
		return fmt.Errorf("resource version %q: %w", cm.ResourceVersion, err)
	}
	t0 := time.Now()
	b.px.expire(rv)
	marker := newBigHeadless(nsName(0), fmt.Sprintf("relist-marker-%d", len(b.res.relist)), 1, 1, b.d)
	if err := marker.create(b.ctx, b.client); err != nil {
		return err
	}
	if err := b.pollUntil("every watch cut to be back", 3*time.Minute, func() (bool, error) {
		res.progress = b.px.progress()
		return res.progress.allBack(), nil
	}); err != nil {
		return fmt.Errorf("relist: %w: %s", err, res.progress)
	}
	if _, err := b.waitAll(pair, marker.expect(), 5*time.Millisecond, 3*time.Minute); err != nil {
		return fmt.Errorf("after the relist: %w", err)
	}
	res.took = time.Since(t0)
	res.progress = b.px.progress()
	b.logf("  every watch back and the marker answered after %s: %s", res.took.Round(time.Millisecond), res.progress)
	return sleep(b.ctx, max(b.c.settle, 2*time.Second))
}

// relistProbes are the names asked during the relist: about 200 of the
// seeded services, spread over them, the big headless service and the
// sentinel.
func (b *bench) relistProbes() []expect {
	return append(spreadProbes(b.d.svcs, 200), b.big.expect(), b.sentinel.expect())
}

// spreadProbes are about n of svcs' names, spread evenly over them.
func spreadProbes(svcs []service, n int) []expect {
	var es []expect
	step := max(1, len(svcs)/n)
	for i := 0; i < len(svcs); i += step {
		es = append(es, expectA(svcs[i].fqdn(), svcs[i].ips))
	}
	return es
}

// steadyRSS is the median of 5 VmRSS samples over a second.
func steadyRSS(r *running) (int64, error) {
	var kbs []int64
	for range 5 {
		kb, err := rssKB(r.srv.Pid())
		if err != nil {
			return 0, err
		}
		kbs = append(kbs, kb)
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(kbs)
	return kbs[2], nil
}

func ifNotEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
