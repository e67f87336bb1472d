package e2e

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A reload (SIGUSR1) of the split horizon keeps both faces answering: the
// new instances take over the shared informers, and no query in between
// gets NXDOMAIN or SERVFAIL for a name that exists.
func TestSplitHorizonReloadKeepsAnswering(t *testing.T) {
	suite(t)
	createIngress(t, "reload-site", "192.168.0.82", "reload.example.com")
	srv := startSplitHorizon(t)
	addr := srv.Ports.DNSAddr()
	for _, c := range []struct{ src, ip string }{{insideIP, "192.168.0.82"}, {outsideIP, "203.0.113.10"}} {
		eventually(t, 30*time.Second, "reload.example.com. from "+c.src,
			answersFrom(c.src, addr, "reload.example.com.", dns.TypeA, want{answer: []string{"reload.example.com. * IN A " + c.ip}}))
	}
	stop := make(chan struct{})
	var mu sync.Mutex
	var bad []string
	asked := 0
	var wg sync.WaitGroup
	for _, src := range []string{insideIP, outsideIP} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := askFrom(src, addr, "udp", "reload.example.com.", dns.TypeA)
				mu.Lock()
				asked++
				if err == nil && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1) {
					bad = append(bad, fmt.Sprintf("from %s at %s: %s with %d answers", src, time.Now().Format("15:04:05.000"), dns.RcodeToString[r.Rcode], len(r.Answer)))
				}
				mu.Unlock()
			}
		}()
	}
	for range 3 {
		time.Sleep(700 * time.Millisecond)
		before := srv.LogLen()
		if err := syscall.Kill(srv.Pid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the reload", func() (bool, string) {
			// Each of the two new kubesvc instances logs its sync.
			log := srv.LogSince(before)
			return strings.Count(log, "synced with the Kubernetes API") >= 2, "the new instances did not sync yet:\n" + log
		})
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d queries during 3 reloads", asked)
	if len(bad) > 0 {
		t.Errorf("%d of %d queries for reload.example.com. during reloads were not its address, first: %v", len(bad), asked, bad[:min(len(bad), 5)])
	}
}
