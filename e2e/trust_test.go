package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// The causes as kubesvc's log names them.
const (
	causeCertificate  = "certificate is not trusted"
	causeDNS          = "name does not resolve"
	causeUnauthorized = "401 Unauthorized"
	causeForbidden    = "403 Forbidden"
	causeRefused      = "connection refused"
	// causeFor is how long a test watches a failing server: several retries
	// of the fast kind (every second) and of the slow kind (growing from a
	// second to ten), and past the first "still waiting" line at 5 s.
	causeFor = 6500 * time.Millisecond
)

// failureResources: the plugin reports each informer's failures.
var failureResources = []string{"services", "endpointslices"}

// TestAPIFailureCauses starts CoreDNS against an API server it cannot use,
// for each reason an operator meets: the log must name the cause once per
// informer (not on every retry), again only when the cause changes, and in
// the "still waiting" line; every query meanwhile gets SERVFAIL, never
// NXDOMAIN; and once the server can be used, CoreDNS answers soon.
func TestAPIFailureCauses(t *testing.T) {
	suite(t)
	t.Run("certificate, then refused, then certificate", func(t *testing.T) {
		t.Parallel()
		proxy := ownProxy(t)
		cfg := rest.CopyConfig(kube.CoreDNS)
		cfg.Host, cfg.CAData = proxy.URL(), otherCA(t)
		srv := failingCoreDNS(t, "wrong-ca", cfg)
		servfailFor(t, srv, causeFor)
		expectCauses(t, srv, causeCertificate)
		expectWaitingLine(t, srv, causeCertificate)

		proxy.Cut()
		waitCause(t, srv, 20*time.Second, causeCertificate, causeRefused)
		servfailFor(t, srv, time.Second)
		if err := proxy.Restore(); err != nil {
			t.Fatal(err)
		}
		waitCause(t, srv, 5*time.Second, causeCertificate, causeRefused, causeCertificate)
		servfailFor(t, srv, time.Second)
	})
	t.Run("name does not resolve", func(t *testing.T) {
		t.Parallel()
		cfg := rest.CopyConfig(kube.CoreDNS)
		// A label longer than 63 octets: Go's resolver refuses the name
		// without sending a query anywhere.
		cfg.Host = "https://" + strings.Repeat("x", 64) + ".invalid:6443"
		srv := failingCoreDNS(t, "unresolvable", cfg)
		servfailFor(t, srv, causeFor)
		expectCauses(t, srv, causeDNS)
		expectWaitingLine(t, srv, causeDNS)
	})
	t.Run("credentials rejected", func(t *testing.T) {
		t.Parallel()
		cfg := &rest.Config{Host: kube.CoreDNS.Host, BearerToken: "not-a-token-of-this-cluster"}
		cfg.CAData = kube.CoreDNS.CAData
		srv := failingCoreDNS(t, "bad-token", cfg)
		servfailFor(t, srv, causeFor)
		expectCauses(t, srv, causeUnauthorized)
		expectWaitingLine(t, srv, causeUnauthorized)
	})
	t.Run("forbidden, then granted", func(t *testing.T) {
		t.Parallel()
		const user = "kubesvc-e2e-unbound"
		cfg, err := kube.AddUser(user)
		if err != nil {
			t.Fatal(err)
		}
		srv := failingCoreDNS(t, "forbidden", cfg)
		servfailFor(t, srv, causeFor)
		expectCauses(t, srv, causeForbidden)
		expectWaitingLine(t, srv, causeForbidden)

		// The operator fixes the RBAC: no restart is needed.
		grant(t, user)
		took := answered(t, srv, 20*time.Second)
		t.Logf("answered %s after the user was granted list and watch", took.Round(time.Millisecond))
		expectAnswersAgain(t, srv)
		expectCauses(t, srv, causeForbidden)
	})
	t.Run("refused, then reachable", func(t *testing.T) {
		t.Parallel()
		proxy := ownProxy(t)
		proxy.Cut()
		cfg := rest.CopyConfig(kube.CoreDNS)
		cfg.Host = proxy.URL()
		srv := failingCoreDNS(t, "refused", cfg)
		servfailFor(t, srv, causeFor)
		expectCauses(t, srv, causeRefused)
		expectWaitingLine(t, srv, causeRefused)
		if err := proxy.Restore(); err != nil {
			t.Fatal(err)
		}
		if took := answered(t, srv, 10*time.Second); took > startupRecover {
			t.Errorf("answered %s after the API server became reachable, want within %s", took.Round(time.Millisecond), startupRecover)
		}
		expectAnswersAgain(t, srv)
		expectCauses(t, srv, causeRefused)
	})
}

// failingCoreDNS starts a CoreDNS for t running E2ECorefile with cfg as
// its kubeconfig, and waits until it answers (SERVFAIL, it cannot sync).
func failingCoreDNS(t *testing.T, name string, cfg *rest.Config) *coredns.Server {
	t.Helper()
	kc := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := cluster.WriteKubeconfig(kc, cfg); err != nil {
		t.Fatal(err)
	}
	ports, err := coredns.NewPorts()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := coredns.Start(corednsBin, coredns.E2ECorefile(ports, kc), ports, coredns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(15 * time.Second); err != nil {
			t.Errorf("stop %s coredns: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s coredns output:\n%s", name, tail(srv.Log(), 8000))
		}
	})
	if err := srv.WaitServing(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	return srv
}

const probeName = "sample-clusterip.default.svc.cluster.local."

// servfailFor asks a seeded name over UDP and TCP for d: every answer must
// be SERVFAIL, and /ready must never say 200.
func servfailFor(t *testing.T, srv *coredns.Server, d time.Duration) {
	t.Helper()
	counts := newTally()
	for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
		proto := protos[i%2]
		r, err := ask(srv.Ports.DNSAddr(), proto, probeName, dns.TypeA, true)
		switch {
		case err != nil:
			counts.add(proto + "/error")
			counts.problem("%v", err)
		case r.Rcode != dns.RcodeServerFailure:
			counts.add(proto + "/" + dns.RcodeToString[r.Rcode])
			counts.problem("got %s, want SERVFAIL:\n%s", dns.RcodeToString[r.Rcode], r)
		default:
			counts.add(proto + "/SERVFAIL")
		}
		if code, err := srv.ReadyStatus(); err == nil && code == http.StatusOK {
			counts.problem("/ready returned 200 while the API server could not be used")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if counts.nProblem > 0 {
		t.Errorf("%d wrong answers while the API server could not be used (%s); first ones:\n%s",
			counts.nProblem, counts, strings.Join(counts.problems, "\n---\n"))
	}
}

// causeLines are the log lines reporting that resource's informer cannot
// use the API, in order.
func causeLines(srv *coredns.Server, resource string) []string {
	var out []string
	for line := range strings.Lines(srv.Log()) {
		if strings.Contains(line, "plugin/kubesvc: "+resource+": cannot use the Kubernetes API: ") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// causesAre reports whether each informer logged exactly the causes, in
// order, and what they logged.
func causesAre(srv *coredns.Server, causes ...string) (bool, string) {
	ok := true
	var report []string
	for _, res := range failureResources {
		lines := causeLines(srv, res)
		match := len(lines) == len(causes)
		for i := 0; match && i < len(causes); i++ {
			match = strings.Contains(lines[i], causes[i])
		}
		ok = ok && match
		report = append(report, res+":\n  "+strings.Join(lines, "\n  "))
	}
	return ok, strings.Join(report, "\n")
}

// expectCauses fails t unless each informer logged exactly causes, and
// checks the levels of client-go's lines.
func expectCauses(t *testing.T, srv *coredns.Server, causes ...string) {
	t.Helper()
	if ok, report := causesAre(srv, causes...); !ok {
		t.Errorf("want each informer to log %q once each, in order; logged:\n%s", causes, report)
	}
	for line := range strings.Lines(srv.Log()) {
		if strings.Contains(line, "client-go: ") && strings.Contains(line, "[WARNING]") && !strings.Contains(line, "client-go: Warning:") &&
			!strings.Contains(line, ": Warning:") {
			t.Errorf("client-go line logged as a warning that is not one: %s", line)
		}
	}
}

// waitCause waits up to d for each informer to have logged exactly causes.
func waitCause(t *testing.T, srv *coredns.Server, d time.Duration, causes ...string) {
	t.Helper()
	eventually(t, d, "causes "+strings.Join(causes, ", then "), func() (bool, string) { return causesAre(srv, causes...) })
}

// expectWaitingLine fails t unless a "still waiting" line names cause.
func expectWaitingLine(t *testing.T, srv *coredns.Server, cause string) {
	t.Helper()
	for line := range strings.Lines(srv.Log()) {
		if strings.Contains(line, "still waiting for the Kubernetes API") && strings.Contains(line, cause) {
			return
		}
	}
	t.Errorf("no \"still waiting\" line names %q", cause)
}

// expectAnswersAgain fails t unless each informer logged once that the API
// answers again.
func expectAnswersAgain(t *testing.T, srv *coredns.Server) {
	t.Helper()
	for _, res := range failureResources {
		if n := strings.Count(srv.Log(), "plugin/kubesvc: "+res+": the Kubernetes API answers again"); n != 1 {
			t.Errorf("%s: \"answers again\" logged %d times, want once", res, n)
		}
	}
}

// answered waits up to d for the seeded name's answer, and returns how long
// it took. Until then only SERVFAIL may come.
func answered(t *testing.T, srv *coredns.Server, d time.Duration) time.Duration {
	t.Helper()
	w := want{answer: []string{probeName + " 30 IN A 10.96.246.109"}}
	return eventually(t, d, "the seeded name's answer", func() (bool, string) {
		r, err := ask(srv.Ports.DNSAddr(), "udp", probeName, dns.TypeA, true)
		if err != nil {
			return false, err.Error()
		}
		if errs := w.verify(r); len(errs) > 0 {
			if r.Rcode != dns.RcodeServerFailure {
				t.Errorf("before the first answer got %s, want SERVFAIL:\n%s", dns.RcodeToString[r.Rcode], r)
			}
			return false, strings.Join(errs, "; ")
		}
		return true, ""
	})
}

// grant binds user to the role the suite's CoreDNS user has, for t.
func grant(t *testing.T, user string) {
	t.Helper()
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cluster.CoreDNSRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := kube.Client.RbacV1().ClusterRoleBindings().Create(ctxFor(t, 10*time.Second), b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.Client.RbacV1().ClusterRoleBindings().Delete(ctxFor(t, 10*time.Second), user, metav1.DeleteOptions{})
	})
}

// otherCA is a CA certificate (PEM) that signed nothing the API server has.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the cluster's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
