package kubesvc

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	golog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// logBuffer is what CoreDNS's log printed during a test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines are the lines holding every one of parts.
func (l *logBuffer) lines(parts ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// captureLog sends CoreDNS's log (the standard logger) to a buffer for the
// rest of t.
func captureLog(t *testing.T) *logBuffer {
	t.Helper()
	buf := &logBuffer{}
	out, flags := golog.Writer(), golog.Flags()
	golog.SetOutput(buf)
	golog.SetFlags(0)
	t.Cleanup(func() { golog.SetOutput(out); golog.SetFlags(flags) })
	return buf
}

// statusServer answers every request with an API Status of code.
func statusServer(t *testing.T, code int, reason metav1.StatusReason) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, reason, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// closedPort is a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "https://" + ln.Addr().String()
}

// unresolvable is a host:port whose name cannot resolve: a label longer than
// 63 octets is refused by Go's resolver without asking any DNS server.
var unresolvable = strings.Repeat("x", 64) + ".invalid:6443"

// The errors the REST client really returns, from real servers on
// loopback, are told apart by the cause an operator would fix.
func TestClassifyAPIErrors(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	// The CA is right but the name is not one the certificate is for.
	wrongName := &rest.Config{Host: strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)}
	wrongName.CAData = pemCert(tlsSrv.Certificate().Raw)
	// An API group the server does not serve (a CRD not installed): the
	// API server's plain "404 page not found".
	noGroup := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(noGroup.Close)

	for _, tc := range []struct {
		name string
		rc   *rest.Config
		want cause
	}{
		{"unknown CA", &rest.Config{Host: tlsSrv.URL}, causeTLS},
		{"certificate not for the name", wrongName, causeTLS},
		{"401", &rest.Config{Host: statusServer(t, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)}, causeUnauthorized},
		{"403", &rest.Config{Host: statusServer(t, http.StatusForbidden, metav1.StatusReasonForbidden)}, causeForbidden},
		{"name does not resolve", &rest.Config{Host: "https://" + unresolvable}, causeDNS},
		{"connection refused", &rest.Config{Host: closedPort(t)}, causeRefused},
		{"500", &rest.Config{Host: statusServer(t, http.StatusInternalServerError, metav1.StatusReasonInternalError)}, causeOther},
		{"410", &rest.Config{Host: statusServer(t, http.StatusGone, metav1.StatusReasonExpired)}, causeOther},
		{"404, not served", &rest.Config{Host: noGroup.URL}, causeNotServed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newRestAPI(tc.rc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = a.list(ctx, "services", "", metav1.ListOptions{})
			if got := classify(err); got != tc.want {
				t.Errorf("list: %v\nclassified as %q, want %q", err, got, tc.want)
			}
		})
	}
	// A server that hangs up is retried by the REST client itself for ten
	// seconds; its errors as they finally come:
	for _, err := range []error{
		&url.Error{Op: "Get", URL: "https://x", Err: io.ErrUnexpectedEOF},
		&url.Error{Op: "Get", URL: "https://x", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}},
		&url.Error{Op: "Get", URL: "https://x", Err: context.DeadlineExceeded},
	} {
		if got := classify(err); got != causeUnreachable {
			t.Errorf("%v: classified as %q, want %q", err, got, causeUnreachable)
		}
	}
	if got := classify(nil); got != causeNone {
		t.Errorf("no error classified as %q", got)
	}
}

// A failure is logged once per cause, at a level that says whether waiting
// cures it, and again when the cause changes or the API answers again.
func TestContactLogsCauseOnChange(t *testing.T) {
	logs := captureLog(t)
	c := newContact("services", "", prometheus.NewGauge(prometheus.GaugeOpts{Name: "test"}))
	refused := fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", errors.New("RBAC"))
	for _, step := range []func(){
		func() { c.failed(refused) }, func() { c.failed(refused) }, func() { c.failed(refused) },
		func() { c.failed(forbidden) }, func() { c.failed(forbidden) },
		func() { c.ok() }, func() { c.ok() },
		func() { c.failed(refused) },
		func() { c.failed(apierrors.NewInternalError(errors.New("etcd"))) }, // the reflector's to handle
		func() { c.watchFailed(apierrors.NewInternalError(errors.New("etcd"))) },
		func() { c.watchFailed(apierrors.NewInternalError(errors.New("etcd"))) },
	} {
		step()
	}
	want := []string{
		"[WARNING] plugin/kubesvc: services: cannot use the Kubernetes API: connection refused",
		"[ERROR] plugin/kubesvc: services: cannot use the Kubernetes API: the API server denied access (403 Forbidden)",
		"[INFO] plugin/kubesvc: services: the Kubernetes API answers again",
		"[WARNING] plugin/kubesvc: services: cannot use the Kubernetes API: connection refused",
		"[WARNING] plugin/kubesvc: services: cannot use the Kubernetes API: the API server answered with an error",
	}
	expectLinesStartWith(t, logs.lines("plugin/kubesvc"), want)
	if s := c.status(); !strings.Contains(s, "answered with an error") || !strings.Contains(s, "etcd") {
		t.Errorf("status %q: want the last cause and error", s)
	}
}

// expectLinesStartWith fails t unless got has as many lines as want, each
// starting with want's.
func expectLinesStartWith(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d lines logged, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: %q\nwant it to start with %q", i, got[i], want[i])
		}
	}
}

// A resource watched through two selectors logs as one: a cause once
// whichever watch meets it, and "answers again" once both do.
func TestContactWatchesLogAsTheirResource(t *testing.T) {
	logs := captureLog(t)
	a := newContact("endpointslices", "", prometheus.NewGauge(prometheus.GaugeOpts{Name: "test"}))
	b := a.watch()
	refused := fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	for _, step := range []func(){
		func() { a.failed(refused) }, func() { b.failed(refused) },
		func() { a.ok() }, func() { b.failed(refused) }, // b still fails: nothing to say yet
		func() { b.ok() }, func() { a.ok() }, func() { b.ok() },
	} {
		step()
	}
	want := []string{
		"[WARNING] plugin/kubesvc: endpointslices: cannot use the Kubernetes API: connection refused",
		"[INFO] plugin/kubesvc: endpointslices: the Kubernetes API answers again",
	}
	expectLinesStartWith(t, logs.lines("plugin/kubesvc"), want)
	if s := b.status(); s != "" {
		t.Errorf("status %q once both watches answer, want none", s)
	}
}

// failingAPI fails its lists with errs in turn, then lists nothing.
type failingAPI struct {
	errs  []error
	calls atomic.Int32
	at    []time.Time // when each call came
}

func (f *failingAPI) list(context.Context, string, string, metav1.ListOptions) (runtime.Object, error) {
	f.at = append(f.at, time.Now())
	if n := int(f.calls.Add(1)); n <= len(f.errs) {
		return nil, f.errs[n-1]
	}
	return &metav1.List{}, nil
}

// An unreachable server is asked again within a second; an error the
// reflector handles (an expired resource version) is handed to it at once.
func TestRetry(t *testing.T) {
	captureLog(t)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test"})
	ctx := context.Background()

	f := &failingAPI{errs: []error{refused, refused, refused}}
	start := time.Now()
	if _, err := retry(ctx, newContact("services", "", gauge), func() (runtime.Object, error) { return f.list(ctx, "", "", metav1.ListOptions{}) }); err != nil {
		t.Fatalf("refused three times, then listed: got %v", err)
	}
	if took := time.Since(start); took > 2*time.Second || f.calls.Load() != 4 {
		t.Errorf("three refusals took %v and %d calls, want 4 calls within 2 s", took, f.calls.Load())
	}

	// Forbidden is asked again less often, the wait growing; once the
	// cause is merely a refused connection, within a second and a half.
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", errors.New("RBAC"))
	f = &failingAPI{errs: []error{forbidden, forbidden, refused}}
	if _, err := retry(ctx, newContact("services", "", gauge), func() (runtime.Object, error) { return f.list(ctx, "", "", metav1.ListOptions{}) }); err != nil {
		t.Fatalf("forbidden twice, refused, then listed: got %v", err)
	}
	if gap := f.at[3].Sub(f.at[2]); gap > 1600*time.Millisecond {
		t.Errorf("after a refused connection the next call came %v later, want within 1.5 s", gap)
	}

	gone := apierrors.NewResourceExpired("too old resource version")
	f = &failingAPI{errs: []error{gone}}
	if _, err := retry(ctx, newContact("services", "", gauge), func() (runtime.Object, error) { return f.list(ctx, "", "", metav1.ListOptions{}) }); !apierrors.IsResourceExpired(err) || f.calls.Load() != 1 {
		t.Errorf("expired: got %v after %d calls, want the error after one call", err, f.calls.Load())
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A 403 of a resource only an option needs (namespaces, serviceimports)
// says to grant that resource, not the two every Corefile needs.
func TestForbiddenNamesTheResource(t *testing.T) {
	logs := captureLog(t)
	c := newContact("serviceimports", "", prometheus.NewGauge(prometheus.GaugeOpts{Name: "test"}))
	c.failed(apierrors.NewForbidden(schema.GroupResource{Group: "multicluster.x-k8s.io", Resource: "serviceimports"}, "", errors.New("RBAC")))
	lines := logs.lines("plugin/kubesvc")
	if len(lines) != 1 || !strings.Contains(lines[0], "serviceimports: cannot use the Kubernetes API") ||
		strings.Contains(lines[0], "services and discovery.k8s.io endpointslices") || !strings.Contains(lines[0], "list and watch on this resource") {
		t.Errorf("logged %q: want the 403 of serviceimports to ask for a grant on it", lines)
	}
}

// A resource the API server does not serve (ServiceImports without their
// CRD) is a cause of its own, which says what to install, retried every
// 10 s like the others an operator fixes (not left to the reflector's
// back-off), so that the CRD's installation takes effect soon.
func TestNotServedSaysWhatToInstall(t *testing.T) {
	err := apierrors.NewNotFound(schema.GroupResource{Group: "multicluster.x-k8s.io", Resource: "serviceimports"}, "")
	if got := classify(err); got != causeNotServed || !got.needsOperator() {
		t.Fatalf("a 404 of a list classified as %q", got)
	}
	logs := captureLog(t)
	newContact("serviceimports", "", prometheus.NewGauge(prometheus.GaugeOpts{Name: "test"})).failed(err)
	expectLinesStartWith(t, logs.lines("plugin/kubesvc"), []string{
		"[ERROR] plugin/kubesvc: serviceimports: cannot use the Kubernetes API: the API server does not serve this resource (404 Not Found): install its API (for serviceimports, the ServiceImport CRD",
	})
}
