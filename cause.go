package kubesvc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// cause is why a call to the API server failed, in the terms an operator
// fixes it by.
type cause uint8

const (
	causeNone         cause = iota
	causeRefused            // nothing listens at the server's address
	causeUnreachable        // reset, timed out, no route: the network or the server is down
	causeDNS                // the server's name does not resolve
	causeTLS                // the handshake failed: the certificate is not trusted or not for this name
	causeUnauthorized       // 401: the credentials were rejected
	causeForbidden          // 403: RBAC does not grant list and watch
	causeNotServed          // 404: the resource is not served (a CRD not installed)
	causeOther              // any other answer; the reflector handles these
	numCauses
)

var causeText = [numCauses]string{
	causeNone:         "no failure",
	causeRefused:      "connection refused: nothing listens at the API server's address",
	causeUnreachable:  "the API server is unreachable",
	causeDNS:          "the API server's name does not resolve (DNS)",
	causeTLS:          "TLS handshake failed: the API server's certificate is not trusted by the configured CA, or not valid for its name",
	causeUnauthorized: "the API server rejected the credentials (401 Unauthorized): check the kubeconfig or service account token",
	causeForbidden:    "the API server denied access (403 Forbidden): RBAC must grant list and watch on this resource (the README's RBAC section says which option needs which)",
	causeNotServed:    "the API server does not serve this resource (404 Not Found): install its API (for serviceimports, the ServiceImport CRD of the Multi-Cluster Services API, sigs.k8s.io/mcs-api)",
	causeOther:        "the API server answered with an error",
}

func init() {
	for c, s := range causeText {
		if s == "" {
			panic(fmt.Sprintf("kubesvc: cause %d has no text", c))
		}
	}
}

func (c cause) String() string { return causeText[c] }

// needsOperator tells the causes that do not go away by waiting: the server
// answers, but one side does not accept the other.
func (c cause) needsOperator() bool {
	return c == causeTLS || c == causeUnauthorized || c == causeForbidden || c == causeNotServed
}

// classify tells why err, from a list or watch, happened. The order
// matters: the HTTP client wraps everything in a *url.Error, which is a
// net.Error, so the specific causes are looked for first.
func classify(err error) cause {
	var (
		verify     *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		badName    x509.HostnameError
		badCert    x509.CertificateInvalidError
		notTLS     tls.RecordHeaderError
		dnsErr     *net.DNSError
		networkErr net.Error
	)
	switch {
	case err == nil:
		return causeNone
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &badName), errors.As(err, &badCert),
		errors.As(err, &notTLS):
		return causeTLS
	case apierrors.IsUnauthorized(err):
		return causeUnauthorized
	case apierrors.IsForbidden(err):
		return causeForbidden
	case apierrors.IsNotFound(err):
		// A list or watch of a collection finds nothing to 404 on but
		// the resource itself: its API is not installed.
		return causeNotServed
	case errors.As(err, &dnsErr):
		return causeDNS
	case utilnet.IsConnectionRefused(err):
		return causeRefused
	case utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err), errors.As(err, &networkErr):
		return causeUnreachable
	}
	return causeOther
}

// contact is a resource's dealings with the API server in one namespace:
// when it last answered (the api_last_contact gauge), and why it last
// failed. A resource may be watched by several informers (through several
// selectors); each has its own contact (watch), and they share the
// resource's state and log as one: a failure when its cause differs from the
// last one logged, not on every retry, and the first time all of them
// answer again after failures.
type contact struct {
	what  string // the resource, and namespace if it has one
	gauge prometheus.Gauge
	of    *contact // the resource's contact, whose lock and state its watches share
	// failing: this watch's last call failed; guarded by of.mu.
	failing bool

	// The resource's, on of only.
	mu             sync.Mutex
	cause          cause // of the last failure logged; causeNone while every watch answers
	err            error
	since          time.Time // when the calls began failing
	failingWatches int       // watches whose last call failed
}

func newContact(resource, namespace string, gauge prometheus.Gauge) *contact {
	what := resource
	if namespace != "" {
		what += " in namespace " + namespace
	}
	c := &contact{what: what, gauge: gauge}
	c.of = c
	return c
}

// watch is one more informer's contact for the same resource.
func (c *contact) watch() *contact { return &contact{what: c.what, gauge: c.gauge, of: c.of} }

// ok notes a successful call.
func (c *contact) ok() {
	c.gauge.SetToCurrentTime()
	r := c.of
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.failing {
		c.failing = false
		r.failingWatches--
	}
	if r.cause == causeNone || r.failingWatches > 0 {
		return
	}
	log.Infof("%s: the Kubernetes API answers again, after %v of failures (last: %s)",
		r.what, time.Since(r.since).Round(time.Millisecond), r.cause)
	r.cause, r.err = causeNone, nil
}

// failed notes a failed list or watch call and returns its cause. Other
// causes are left to watchFailed: the reflector may take them in its stride
// (a relist after an expired resource version).
func (c *contact) failed(err error) cause {
	cause := classify(err)
	if cause != causeOther {
		c.note(cause, err)
	}
	return cause
}

// watchFailed notes an error the reflector gave up on (its watch error
// handler), whatever its cause.
func (c *contact) watchFailed(err error) { c.note(classify(err), err) }

func (c *contact) note(cause cause, err error) {
	r := c.of
	r.mu.Lock()
	defer r.mu.Unlock()
	if !c.failing {
		c.failing = true
		r.failingWatches++
	}
	r.err = err
	if cause == r.cause {
		return
	}
	if r.cause == causeNone {
		r.since = time.Now()
	}
	r.cause = cause
	retrying := "every second"
	logf := log.Warningf
	if cause.needsOperator() {
		retrying, logf = fmt.Sprintf("every %v", maxOperatorRetryInterval), log.Errorf
	}
	if cause == causeOther {
		retrying = "with back-off"
	}
	logf("%s: cannot use the Kubernetes API: %s; retrying %s (answers come from what is known, SERVFAIL before the first sync): %v",
		r.what, cause, retrying, err)
}

// status is the resource's last failure, or "" if its watches answer.
func (c *contact) status() string {
	r := c.of
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cause == causeNone {
		return ""
	}
	return fmt.Sprintf("%s: %s: %v", r.what, r.cause, r.err)
}
