package kubesvc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// The stock plugin's client options are accepted with its syntax; a mistake
// names the option.
func TestAPIOptionsParse(t *testing.T) {
	for _, tc := range []struct {
		options   string
		shouldErr string
		want      apiOptions
	}{
		{options: "apiserver_qps 50\napiserver_burst 100\napiserver_max_inflight 3\nstartup_timeout 30s",
			want: apiOptions{qps: 50, burst: 100, maxInflight: 3, startupTimeout: 30 * time.Second}},
		{options: "apiserver_qps 0.5\napiserver_burst 0\napiserver_max_inflight 0\nstartup_timeout 1m30s",
			want: apiOptions{qps: 0.5, startupTimeout: 90 * time.Second}},
		{options: "apiserver_qps", shouldErr: "apiserver_qps needs one number"},
		{options: "apiserver_qps -1", shouldErr: `apiserver_qps "-1" is not a number`},
		{options: "apiserver_qps fast", shouldErr: "apiserver_qps"},
		{options: "apiserver_burst 1.5", shouldErr: "apiserver_burst"},
		{options: "apiserver_burst -2", shouldErr: "apiserver_burst"},
		{options: "apiserver_max_inflight 1 2", shouldErr: "apiserver_max_inflight needs one number"},
		{options: "apiserver_max_inflight many", shouldErr: "apiserver_max_inflight"},
		{options: "startup_timeout", shouldErr: "startup_timeout needs one duration"},
		{options: "startup_timeout 5", shouldErr: "startup_timeout"},
		{options: "startup_timeout 0s", shouldErr: "startup_timeout"},
		{options: "startup_timeout -5s", shouldErr: "startup_timeout"},
		{options: "tls a b", shouldErr: "tls needs CERT KEY CACERT"},
		{options: "tls /nonexistent/cert /nonexistent/key /nonexistent/ca", shouldErr: "tls: client certificate /nonexistent/cert"},
	} {
		in := "kubesvc cluster.local {\n" + tc.options + "\n}"
		_, cfg, err := parse(caddy.NewTestController("dns", in))
		if tc.shouldErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.shouldErr) {
				t.Errorf("%q: want an error about %q, got %v", tc.options, tc.shouldErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: unexpected error %v", tc.options, err)
			continue
		}
		if cfg.api != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.options, cfg.api, tc.want)
		}
	}
}

// writeTLSFiles writes a self-signed CA certificate and a client key pair
// it signed into dir.
func writeTLSFiles(t *testing.T, dir string) (cert, key, ca string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "coredns"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(clientKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("client.crt", "CERTIFICATE", clientDER), write("client.key", "EC PRIVATE KEY", keyDER), write("ca.crt", "CERTIFICATE", caDER)
}

// tls gives the client certificate and CA for endpoint, in place of a
// kubeconfig's; files that do not load stop the start with their name.
func TestTLSOption(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := writeTLSFiles(t, dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.0.0.9:6443", certificate-authority-data: "`+
		"bm90IHVzZWQ="+`"}}]
users: [{name: u, user: {token: secret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600)
	tlsLine := strings.Join([]string{"tls", cert, key, ca}, " ")
	restConfigOf := func(options ...string) *rest.Config {
		t.Helper()
		_, cfg, err := parse(caddy.NewTestController("dns", "kubesvc cluster.local {\n"+strings.Join(options, "\n")+"\n}"))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := cfg.restConfig()
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	want := rest.TLSClientConfig{CertFile: cert, KeyFile: key, CAFile: ca}
	if rc := restConfigOf("endpoint https://10.0.0.1:6443", tlsLine); rc.Host != "https://10.0.0.1:6443" || !reflect.DeepEqual(rc.TLSClientConfig, want) {
		t.Errorf("endpoint and tls: host %s, TLS %+v; want %+v", rc.Host, rc.TLSClientConfig, want)
	}
	rc := restConfigOf("kubeconfig "+kubeconfig, "endpoint https://10.0.0.1:6443", tlsLine)
	if rc.Host != "https://10.0.0.1:6443" || !reflect.DeepEqual(rc.TLSClientConfig, want) || rc.BearerToken != "secret" {
		t.Errorf("kubeconfig, endpoint and tls: host %s, TLS %+v, token %q; want the kubeconfig's token with %+v", rc.Host, rc.TLSClientConfig, rc.BearerToken, want)
	}
	// As with stock, tls without endpoint changes nothing.
	if rc := restConfigOf("kubeconfig "+kubeconfig, tlsLine); rc.CertFile != "" || string(rc.CAData) != "not used" {
		t.Errorf("kubeconfig and tls without endpoint: TLS %+v, want the kubeconfig's", rc.TLSClientConfig)
	}

	for _, bad := range []struct{ line, want string }{
		{strings.Join([]string{"tls", cert, ca, ca}, " "), "tls: client certificate " + cert + " and key " + ca},
		{strings.Join([]string{"tls", cert, key, key}, " "), "tls: CA certificate " + key + " holds no PEM certificate"},
		{strings.Join([]string{"tls", cert, key, dir + "/missing.crt"}, " "), "tls: CA certificate: open " + dir + "/missing.crt"},
	} {
		_, _, err := parse(caddy.NewTestController("dns", "kubesvc cluster.local {\nendpoint https://10.0.0.1:6443\n"+bad.line+"\n}"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: want an error %q, got %v", bad.line, bad.want, err)
		}
	}
}

// apiserver_qps and apiserver_burst bound the requests of both resources
// together, in one token bucket.
func TestAPIRateLimit(t *testing.T) {
	for _, tc := range []struct {
		options string
		qps     float32
		burst   int
	}{
		{"apiserver_qps 50\napiserver_burst 100", 50, 100},
		{"apiserver_qps 50", 50, rest.DefaultBurst},
		{"apiserver_burst 7", rest.DefaultQPS, 7},
		{"", 0, 0}, // client-go's defaults, a bucket per client
	} {
		_, cfg, err := parse(caddy.NewTestController("dns", "kubesvc cluster.local {\nendpoint http://127.0.0.1:1\n"+tc.options+"\n}"))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := cfg.restConfig()
		if err != nil {
			t.Fatal(err)
		}
		if rc.QPS != tc.qps || rc.Burst != tc.burst || (rc.RateLimiter != nil) != (tc.qps > 0) {
			t.Errorf("%q: QPS %v burst %d shared limiter %v; want %v %d", tc.options, rc.QPS, rc.Burst, rc.RateLimiter != nil, tc.qps, tc.burst)
		}
		if rc.RateLimiter != nil && rc.RateLimiter.QPS() != tc.qps {
			t.Errorf("%q: the limiter allows %v QPS, want %v", tc.options, rc.RateLimiter.QPS(), tc.qps)
		}
	}
}

// Denials (NXDOMAIN, NODATA) are cached for the smaller of the SOA's TTL and
// its MINIMUM: as with stock, the SOA's TTL is at most 300 s and MINIMUM is
// ttl; denial_ttl sets both.
func TestSOATTLs(t *testing.T) {
	for _, tc := range []struct {
		options      string
		ttl, minimum uint32
	}{
		{"", defaultTTL, defaultTTL},
		{"ttl 30", 30, 30},
		{"ttl 300", 300, 300},
		{"ttl 3600", 300, 3600},
		{"ttl 3600\ndenial_ttl 2", 2, 2},
		{"denial_ttl 0\nttl 60", 0, 0},
		{"ttl 5\ndenial_ttl 600", 600, 600},
	} {
		k, _ := newTestKubeSvc(t, "kubesvc cluster.local {\n"+tc.options+"\n}", seed()...)
		for _, q := range []test.Case{
			{Qname: "nope.default.svc.cluster.local.", Qtype: dns.TypeA},               // NXDOMAIN
			{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeTXT}, // NODATA
			{Qname: "cluster.local.", Qtype: dns.TypeSOA},
		} {
			_, m := ask(k, q)
			rrs := m.Ns
			if q.Qtype == dns.TypeSOA {
				rrs = m.Answer
			}
			if len(rrs) != 1 {
				t.Fatalf("%q %s: want one SOA, got %v", tc.options, q.Qname, m)
			}
			soa := rrs[0].(*dns.SOA)
			if soa.Hdr.Ttl != tc.ttl || soa.Minttl != tc.minimum {
				t.Errorf("%q %s %s: SOA TTL %d MINIMUM %d, want %d %d", tc.options, q.Qname, dns.TypeToString[q.Qtype], soa.Hdr.Ttl, soa.Minttl, tc.ttl, tc.minimum)
			}
		}
	}
	for _, bad := range []string{"denial_ttl", "denial_ttl 3601", "denial_ttl -1", "denial_ttl 1 2", "denial_ttl x"} {
		if _, _, err := parse(caddy.NewTestController("dns", "kubesvc cluster.local {\n"+bad+"\n}")); err == nil || !strings.Contains(err.Error(), "denial_ttl") {
			t.Errorf("%q: want an error naming denial_ttl, got %v", bad, err)
		}
	}
}

// The bucket holds for the requests of both resources together: with 5
// requests a second and no burst, 6 lists alternating between Services and
// EndpointSlices take a second (a bucket per resource would let them through
// in 0.4 s).
func TestAPIRateLimitSharedByResources(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "endpointslices") {
			fmt.Fprint(w, `{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":[]}`)
			return
		}
		fmt.Fprint(w, `{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[]}`)
	}))
	defer srv.Close()
	_, cfg, err := parse(caddy.NewTestController("dns", "kubesvc cluster.local {\nendpoint "+srv.URL+"\napiserver_qps 5\napiserver_burst 1\n}"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.restConfig()
	if err != nil {
		t.Fatal(err)
	}
	a, err := newRestAPI(rc)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 6 {
		resource := []string{"services", "endpointslices"}[i%2]
		if _, err := a.list(context.Background(), resource, "", metav1.ListOptions{}); err != nil {
			t.Fatalf("list %s: %v", resource, err)
		}
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("6 lists at 5 a second, no burst, took %v: want about a second", took)
	}
}
