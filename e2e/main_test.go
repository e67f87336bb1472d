// Package e2e proves the real bin/coredns, with the kubesvc plugin, answers
// real DNS queries over UDP and TCP on loopback while watching a real
// kube-apiserver and etcd (controller-runtime's envtest). Black-box only: it
// does not import the plugin.
//
// Run from the repository root after building bin/coredns and the control
// plane (hack/build-controlplane.sh):
//
//	cd e2e && KUBEBUILDER_ASSETS=$PWD/../bin go test -count=1 -timeout 15m ./...
//
// Without KUBEBUILDER_ASSETS (or without bin/coredns) every test skips,
// unless KUBESVC_E2E_REQUIRED=1, which makes that a failure.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// The suite's shared state, set up once by TestMain.
var (
	// skipReason, when set, is why every test skips.
	skipReason string
	// repoRoot is the repository root (the parent of e2e/).
	repoRoot string
	// corednsBin is bin/coredns under repoRoot.
	corednsBin string
	// stockBin is bin/coredns-stock under repoRoot, stock CoreDNS: only the
	// differential tests need it (see stockCoreDNS).
	stockBin string
	// kube is the control plane, seeded with testdata/cluster.
	kube *cluster.Cluster
	// sharedDNS is a CoreDNS synced with kube through sharedProxy (never cut),
	// running E2ECorefile. Tests that cut a proxy start their own.
	sharedDNS   *coredns.Server
	sharedProxy *cluster.Proxy
)

const requiredEnv = "KUBESVC_E2E_REQUIRED"

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot, corednsBin, stockBin = root, coredns.Binary(root), coredns.StockBinary(root)

	var missing []string
	if err := cluster.CheckAssets(); err != nil {
		missing = append(missing, err.Error())
	}
	if err := coredns.CheckBinary(corednsBin); err != nil {
		missing = append(missing, "bin/coredns: "+err.Error())
	}
	if len(missing) > 0 {
		reason := "e2e needs the control plane and bin/coredns: " + strings.Join(missing, "; ")
		if os.Getenv(requiredEnv) == "1" {
			fmt.Fprintf(os.Stderr, "FAIL: %s (%s=1, so this is a failure, not a skip)\n", reason, requiredEnv)
			return 1
		}
		skipReason = reason
		fmt.Fprintln(os.Stderr, "SKIP:", reason)
		return m.Run()
	}

	code, err := withSuite(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: e2e setup:", err)
		return 1
	}
	return code
}

// withSuite starts the control plane and the shared CoreDNS, runs the tests
// and tears everything down.
func withSuite(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	cpOut := &coredns.Buffer{}
	crds, err := gatewayCRDs()
	if err != nil {
		return 0, err
	}
	crd, err := serviceImportCRD()
	if err != nil {
		return 0, err
	}
	c, err := cluster.Start(ctx, cluster.Options{Output: cpOut, CRDs: append(crds, crd)})
	if err != nil {
		return 0, fmt.Errorf("%w\ncontrol plane output (tail):\n%s", err, tail(cpOut.String(), 4000))
	}
	kube = c
	defer func() {
		if err := kube.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop control plane:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "e2e: control plane up in %s\n", time.Since(start).Round(time.Millisecond))

	if err := kube.ApplyFiles(ctx, filepath.Join(repoRoot, "testdata", "cluster", "*.yaml")); err != nil {
		return 0, fmt.Errorf("seed testdata/cluster: %w", err)
	}

	if sharedProxy, err = kube.NewProxy(); err != nil {
		return 0, err
	}
	defer sharedProxy.Close()
	kc, err := kube.CoreDNSKubeconfig("shared.kubeconfig", sharedProxy.URL())
	if err != nil {
		return 0, err
	}
	ports, err := coredns.NewPorts()
	if err != nil {
		return 0, err
	}
	start = time.Now()
	sharedDNS, err = coredns.Start(corednsBin, coredns.E2ECorefile(ports, kc), ports, coredns.Options{})
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := sharedDNS.Stop(15 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop shared coredns:", err)
		}
	}()
	if err := sharedDNS.WaitReady(ctx); err != nil {
		return 0, fmt.Errorf("%w\ncoredns output:\n%s", err, sharedDNS.Log())
	}
	fmt.Fprintf(os.Stderr, "e2e: shared coredns ready in %s (dns %s)\n", time.Since(start).Round(time.Millisecond), ports.DNSAddr())

	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: shared coredns output (tail):\n%s\n", tail(sharedDNS.Log(), 8000))
	}
	return code, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// suite skips t if the suite cannot run, and returns the shared CoreDNS.
// On failure, what the shared CoreDNS printed during t is logged.
func suite(t *testing.T) *coredns.Server {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	off := sharedDNS.LogLen()
	t.Cleanup(func() {
		if t.Failed() {
			out := sharedDNS.LogSince(off)
			if out == "" {
				out = "(nothing)"
			}
			t.Logf("shared coredns output during this test:\n%s", tail(out, 8000))
		}
	})
	return sharedDNS
}

// ctxFor is a context ending with the test or after d.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// ownCoreDNS starts a CoreDNS for t alone with the Corefile corefile(ports,
// kubeconfig), its kubeconfig pointing at server (a proxy URL). It is stopped,
// and its output logged if t failed, at the end of t.
func ownCoreDNS(t *testing.T, name, server string, corefile func(coredns.Ports, string) string) *coredns.Server {
	t.Helper()
	kc, err := kube.CoreDNSKubeconfig(name+".kubeconfig", server)
	if err != nil {
		t.Fatal(err)
	}
	return startCoreDNS(t, name, corednsBin, kc, corefile)
}

// stockCoreDNS is ownCoreDNS for stock CoreDNS (bin/coredns-stock, make
// stock), the reference of differential tests. It runs as the admin: the
// stock plugin also lists and watches Namespaces. Without the binary t
// skips, or fails under KUBESVC_E2E_REQUIRED=1.
func stockCoreDNS(t *testing.T, name string, corefile func(coredns.Ports, string) string) *coredns.Server {
	t.Helper()
	if err := coredns.CheckBinary(stockBin); err != nil {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatalf("bin/coredns-stock: %v (make stock builds it)", err)
		}
		t.Skipf("bin/coredns-stock: %v (make stock builds it)", err)
	}
	kc, err := kube.AdminKubeconfig(name + ".kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	return startCoreDNS(t, name, stockBin, kc, corefile)
}

func startCoreDNS(t *testing.T, name, binary, kubeconfig string, corefile func(coredns.Ports, string) string) *coredns.Server {
	t.Helper()
	ports, err := coredns.NewPorts()
	if err != nil {
		t.Fatal(err)
	}
	s, err := coredns.Start(binary, corefile(ports, kubeconfig), ports, coredns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(15 * time.Second); err != nil {
			t.Errorf("stop %s coredns: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s coredns output:\n%s", name, tail(s.Log(), 8000))
		}
	})
	return s
}

// ownProxy starts a proxy in front of the API server for t alone.
func ownProxy(t *testing.T) *cluster.Proxy {
	t.Helper()
	p, err := kube.NewProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
