package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/kubesvc/kubesvc/e2e/netns"
)

// TestAutopathGlibc counts the queries glibc's resolver (getent, i.e.
// getaddrinfo) sends for blog.mosuke.tech from a pod in namespace test, with
// the option off and on, in a private network and mount namespace where
// CoreDNS serves port 53 and /etc/resolv.conf is a pod's.
func TestAutopathGlibc(t *testing.T) {
	suite(t)
	if why := netns.Unavailable(); why != "" {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatalf("%s (%s=1, so this is a failure, not a skip)", why, requiredEnv)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("getent"); err != nil {
		t.Fatalf("getent not found (Debian package libc-bin): %v", err)
	}
	t.Parallel()

	const (
		onNS    = "127.0.0.1" // nameserver of the block with autopath
		offNS   = "127.0.0.2" // and without
		cacheNS = "127.0.0.3" // with autopath and cache 30, as in Corefile.example
		api     = "127.0.0.1:6443"
		ready   = "127.0.0.1:8181"
		metrics = "127.0.0.1:9153"
	)
	resolvConf := func(server string) string {
		return "nameserver " + server + "\nsearch test.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	}
	apiAddr, err := kube.APIServerAddr()
	if err != nil {
		t.Fatal(err)
	}
	nsOut := &coredns.Buffer{}
	ns, err := netns.Start(ctxFor(t, 30*time.Second), netns.Options{
		ResolvConf: resolvConf(onNS),
		Outward:    map[string]string{api: apiAddr},
		Inward:     []string{ready, metrics},
		Output:     nsOut,
	})
	if err != nil {
		t.Fatalf("%v\nnamespace output:\n%s", err, nsOut)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("close namespace: %v", err)
		}
	})

	kc, err := kube.CoreDNSKubeconfig("netns.kubeconfig", "https://"+api)
	if err != nil {
		t.Fatal(err)
	}
	conf, zone := filepath.Join(ns.Dir(), "Corefile"), filepath.Join(ns.Dir(), "upstream.zone")
	if err := os.WriteFile(zone, []byte(coredns.UpstreamZone()), 0o644); err != nil {
		t.Fatal(err)
	}
	corefile := coredns.AutopathCorefile{
		Kubeconfig: kc,
		Blocks: []coredns.KubesvcBlock{
			{Listen: onNS + ":53", Autopath: true, Log: coredns.LogFormat},
			{Listen: offNS + ":53", Log: coredns.LogFormat},
			{Listen: cacheNS + ":53", Autopath: true, Log: coredns.LogFormat, Cache: true},
		},
		Ready: ready, Metrics: metrics,
		Upstream: "127.0.0.1:5300", UpstreamZone: zone,
	}.String()
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &coredns.Buffer{}
	cmd := ns.Command(context.Background(), corednsBin, "-conf", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("coredns in the namespace did not exit within 15s of SIGTERM; killed")
		}
		if t.Failed() {
			t.Logf("coredns in the namespace:\n%s\nnamespace output:\n%s", tail(out.String(), 8000), nsOut)
		}
	})

	hc := ns.HTTPClient()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get("http://" + ready + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("coredns in the namespace exited before it was ready:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("coredns in the namespace not ready within 30s (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// getent runs getent in the namespace and returns its output and the
	// client queries CoreDNS logged meanwhile, and how many lookups the
	// server made for them through its own chain (same client and id).
	getent := func(db, name string) (string, []coredns.LogLine, int) {
		t.Helper()
		from := out.Len()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		res, err := ns.Command(ctx, "getent", db, name).CombinedOutput()
		if err != nil {
			t.Errorf("getent %s %s: %v\n%s", db, name, err, res)
		}
		// The log line of a query is written right after its answer: wait
		// for the output to be quiet.
		for n, quiet, end := out.Len(), 0, time.Now().Add(3*time.Second); quiet < 5 && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
			if l := out.Len(); l != n {
				n, quiet = l, 0
			} else {
				quiet++
			}
		}
		var keys []string
		last := map[string]coredns.LogLine{}
		lines := map[string]int{}
		for _, l := range strings.Split(out.Since(from), "\n") {
			ll, ok := coredns.ParseLogLine(l)
			if !ok {
				continue
			}
			k := ll.Key()
			if _, seen := last[k]; !seen {
				keys = append(keys, k)
			}
			last[k] = ll // the client's query is logged after the lookups made for it
			lines[k]++
		}
		var client []coredns.LogLine
		internal := 0
		for _, k := range keys {
			client = append(client, last[k])
			internal += lines[k] - 1
		}
		return string(res), client, internal
	}

	type run struct {
		db       string
		mode     string
		queries  []coredns.LogLine
		internal int
		out      string
	}
	var runs []run
	for _, db := range []string{"ahostsv4", "ahosts"} {
		for _, mode := range []string{"off", "on", "on+cache"} {
			server := map[string]string{"off": offNS, "on": onNS, "on+cache": cacheNS}[mode]
			if err := ns.SetResolvConf(resolvConf(server)); err != nil {
				t.Fatal(err)
			}
			res, qs, internal := getent(db, "blog.mosuke.tech")
			runs = append(runs, run{db, mode, qs, internal, res})
			for _, a := range []string{"172.67.165.72", "104.21.57.182"} {
				if !strings.Contains(res, a) {
					t.Errorf("getent %s blog.mosuke.tech (autopath %s) lacks %s:\n%s", db, mode, a, res)
				}
			}
		}
	}
	completions, saved := autopathCounters(t, hc, "http://"+metrics+"/metrics")

	var report strings.Builder
	fmt.Fprintf(&report, "glibc (getent) in a network namespace, blog.mosuke.tech from a pod in test (ndots:5, IPv6 address on lo: %v):", ns.IPv6)
	count := map[string]int{}
	for _, r := range runs {
		count[r.db+"/"+r.mode] = len(r.queries)
		fmt.Fprintf(&report, "\n  getent %-8s autopath %-8s: %d queries (server-side lookups: %d)", r.db, r.mode, len(r.queries), r.internal)
		for _, q := range r.queries {
			fmt.Fprintf(&report, "\n      %-4s %-45s %s", q.Type, q.Name, q.Rcode)
		}
		fmt.Fprintf(&report, "\n    output: %s", strings.ReplaceAll(strings.TrimSpace(r.out), "\n", "\n            "))
	}
	fmt.Fprintf(&report, "\n  %s %g, %s %g", metricCompletions, completions, metricSaved, saved)
	t.Log(report.String())

	if count["ahostsv4/off"] != 4 || count["ahostsv4/on"] != 3 || count["ahostsv4/on+cache"] != 3 {
		t.Errorf("getent ahostsv4: %d queries off, %d on, %d on with cache; want 4, 3 and 3", count["ahostsv4/off"], count["ahostsv4/on"], count["ahostsv4/on+cache"])
	}
	perName := 1
	if ns.IPv6 {
		perName = 2 // A and AAAA
	}
	if count["ahosts/off"] != 4*perName || count["ahosts/on"] != 3*perName || count["ahosts/on+cache"] != 3*perName {
		t.Errorf("getent ahosts: %d queries off, %d on, %d on with cache; want %d, %d and %d", count["ahosts/off"], count["ahosts/on"], count["ahosts/on+cache"], 4*perName, 3*perName, 3*perName)
	}
	for _, r := range runs {
		for _, q := range r.queries {
			if !strings.HasPrefix(q.Name, "blog.mosuke.tech.") {
				t.Errorf("getent %s: unexpected query %s %s", r.db, q.Type, q.Name)
			}
		}
	}
}
