package kubesvc

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/coredns/caddy"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// apiOptions are the stock kubernetes plugin's options for its API client,
// accepted with their meaning so that a stock Corefile runs renamed.
type apiOptions struct {
	// tls: a client certificate and the CA of the server named by endpoint.
	tlsCert, tlsKey, tlsCA string
	// apiserver_qps and apiserver_burst: one token bucket for every request
	// (0: client-go's defaults).
	qps   float32
	burst int
	// apiserver_max_inflight and startup_timeout are checked as stock checks
	// them and have no effect: kubesvc has at most a list or a watch of each
	// resource (per namespace) under way at a time, and it starts serving at
	// once, with SERVFAIL until its first sync (stock waits up to
	// startup_timeout before it listens).
	maxInflight    int
	startupTimeout time.Duration
}

// parseAPIOption reads one of apiOptions' options; handled is false for any
// other option.
func parseAPIOption(c *caddy.Controller, o *apiOptions, opt string, args []string) (handled bool, err error) {
	switch opt {
	case "tls":
		if len(args) != 3 {
			return true, c.Errf("tls needs CERT KEY CACERT, got %d arguments", len(args))
		}
		if err := checkTLSFiles(args[0], args[1], args[2]); err != nil {
			return true, c.Errf("tls: %v", err)
		}
		o.tlsCert, o.tlsKey, o.tlsCA = args[0], args[1], args[2]
	case "apiserver_qps":
		q, err := oneNumber(opt, args, func(s string) (float64, error) { return strconv.ParseFloat(s, 32) })
		if err != nil {
			return true, c.Err(err.Error())
		}
		o.qps = float32(q)
	case "apiserver_burst":
		n, err := oneNumber(opt, args, strconv.Atoi)
		if err != nil {
			return true, c.Err(err.Error())
		}
		o.burst = n
	case "apiserver_max_inflight":
		n, err := oneNumber(opt, args, strconv.Atoi)
		if err != nil {
			return true, c.Err(err.Error())
		}
		o.maxInflight = n
	case "startup_timeout":
		if len(args) != 1 {
			return true, c.Errf("startup_timeout needs one duration such as 5s, got %d arguments", len(args))
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d <= 0 {
			// Stock fails on these too: a bad duration at setup, 0 or less
			// as a panic when it starts.
			return true, c.Errf("startup_timeout %q is not a positive duration such as 5s", args[0])
		}
		o.startupTimeout = d
	default:
		return false, nil
	}
	return true, nil
}

// oneNumber reads the only argument of opt, a number of at least 0.
func oneNumber[T int | float64](opt string, args []string, parse func(string) (T, error)) (T, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("%s needs one number, got %d arguments", opt, len(args))
	}
	n, err := parse(args[0])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a number of at least 0", opt, args[0])
	}
	return n, nil
}

// checkTLSFiles loads the key pair and the CA bundle once at setup, so that
// a missing or broken file stops the start with its name, not the first
// request.
func checkTLSFiles(cert, key, ca string) error {
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Errorf("client certificate %s and key %s: %w", cert, key, err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("CA certificate %s holds no PEM certificate", ca)
	}
	return nil
}

// apply sets the options on rc. endpoint tells whether the Corefile gave
// one: as with stock, tls only goes with endpoint.
func (o *apiOptions) apply(rc *rest.Config, endpoint bool) {
	if o.tlsCert != "" {
		if endpoint {
			// Files, not their contents: client-go reloads a rotated
			// certificate. A kubeconfig's own data would take precedence.
			rc.TLSClientConfig = rest.TLSClientConfig{ServerName: rc.ServerName,
				CertFile: o.tlsCert, KeyFile: o.tlsKey, CAFile: o.tlsCA}
		} else {
			log.Warningf("tls has no effect without endpoint (as with the stock kubernetes plugin)")
		}
	}
	if o.qps > 0 || o.burst > 0 {
		rc.QPS, rc.Burst = rest.DefaultQPS, rest.DefaultBurst
		if o.qps > 0 {
			rc.QPS = o.qps
		}
		if o.burst > 0 {
			rc.Burst = o.burst
		}
		// One bucket for the REST clients of both resources: otherwise each
		// would get its own, and twice the rate.
		rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(rc.QPS, rc.Burst)
	}
}
