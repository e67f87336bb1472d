package kubesvc

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func init() {
	plugin.Register(pluginName, setup)
}

func setup(c *caddy.Controller) error {
	k, cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	restCfg, err := cfg.restConfig()
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(func() error {
		client, err := newRestAPI(restCfg)
		if err != nil {
			return plugin.Error(pluginName, err)
		}
		k.serveExternal(dnsserver.GetConfig(c), cfg)
		k.w.start(client, cfg)
		k.w.awaitReplay(replayWait) // a reload: the old instance answers meanwhile
		return nil
	})
	c.OnShutdown(func() error {
		k.w.stop()
		return nil
	})
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		k.Next = next
		return k
	})
	return nil
}

// clientConfig is how the plugin reaches the API server.
type clientConfig struct {
	kubeconfig, context, endpoint string
	namespaces                    []string
	labels                        string
	namespaceLabels               string // namespace_labels: a label selector, "" for all namespaces
	noEndpoints                   bool   // noendpoints: no EndpointSlice watch
	api                           apiOptions
	// allSlices: watch every EndpointSlice, not only those that feed
	// headless answers (sliceSelectors): ignore empty_service.
	allSlices bool
	podNames  bool // endpoint_pod_names: slices keep their endpoints' Pod names
	ingresses bool // k8s_external's ingress: watch Ingresses
	gateways  bool // k8s_external's gateway: watch Gateways and HTTPRoutes
	zonal     bool // zonal: slices keep their endpoints' topology zones
	// multicluster: ServiceImports and their slices are watched.
	multicluster bool
}

const (
	defaultTTL = 5
	maxTTL     = 3600
)

// parse reads one kubesvc block. Every mistake names its option.
func parse(c *caddy.Controller) (*KubeSvc, *clientConfig, error) {
	var (
		k   *KubeSvc
		cfg *clientConfig
	)
	for c.Next() {
		if k != nil {
			return nil, nil, c.Err("kubesvc can only be used once per server block")
		}
		var err error
		if k, cfg, err = parseBlock(c); err != nil {
			return nil, nil, err
		}
	}
	if k == nil {
		return nil, nil, c.ArgErr()
	}
	return k, cfg, nil
}

func parseBlock(c *caddy.Controller) (*KubeSvc, *clientConfig, error) {
	k := &KubeSvc{ttl: defaultTTL, upstream: upstream.New()}
	cfg := &clientConfig{}
	zones := plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
	for c.NextBlock() {
		if err := parseOption(c, k, cfg); err != nil {
			return nil, nil, err
		}
	}
	if err := k.setZones(zones); err != nil {
		return nil, nil, c.Err(err.Error())
	}
	if cfg.zonal && cfg.noEndpoints {
		// As stock refuses it: zone-scoped names are made of endpoints.
		return nil, nil, c.Err("zonal needs the endpoints that noendpoints turns off; remove one of them")
	}
	if len(cfg.namespaces) > 0 && cfg.namespaceLabels != "" {
		return nil, nil, c.Err("namespaces and namespace_labels cannot both be set")
	}
	k.namespaceLabels = cfg.namespaceLabels != ""
	if len(cfg.namespaces) > 0 {
		k.namespaces = map[string]bool{}
		for _, ns := range cfg.namespaces {
			k.namespaces[ns] = true
		}
	}
	return k, cfg, nil
}

func parseOption(c *caddy.Controller, k *KubeSvc, cfg *clientConfig) error {
	opt := c.Val()
	args := c.RemainingArgs()
	switch opt {
	case "kubeconfig":
		if len(args) < 1 || len(args) > 2 {
			return c.Errf("kubeconfig needs PATH [CONTEXT], got %d arguments", len(args))
		}
		cfg.kubeconfig = args[0]
		if len(args) == 2 {
			cfg.context = args[1]
		}
	case "endpoint":
		if len(args) == 0 {
			return c.Errf("endpoint needs a URL")
		}
		if len(args) > 1 {
			// Stock deprecated a list of URLs and uses the first.
			log.Warningf("endpoint: only the first URL, %s, is used", args[0])
		}
		if !strings.HasPrefix(args[0], "http://") && !strings.HasPrefix(args[0], "https://") {
			return c.Errf("endpoint %q is not an http:// or https:// URL", args[0])
		}
		cfg.endpoint = args[0]
	case "namespaces":
		if len(args) == 0 {
			return c.Errf("namespaces needs at least one namespace")
		}
		for _, ns := range args {
			if !isLabel(ns) || strings.ToLower(ns) != ns {
				return c.Errf("namespaces: %q is not a namespace name", ns)
			}
		}
		cfg.namespaces = append(cfg.namespaces, args...)
	case "labels":
		sel, err := labels.Parse(strings.Join(args, " "))
		if len(args) == 0 || err != nil {
			return c.Errf("labels needs a label selector: %v", err)
		}
		cfg.labels = sel.String()
	case "namespace_labels", "noendpoints", "zonal", "multicluster":
		return parseResourceOption(c, k, opt, args, cfg)
	case "ttl":
		return parseTTL(c, opt, args, &k.ttl)
	case "denial_ttl":
		k.hasDenial = true
		return parseTTL(c, opt, args, &k.denialTTL)
	case "pods":
		return parsePods(c, k, args)
	case "autopath":
		return parseAutopath(c, k, args)
	case "endpoint_pod_names":
		if len(args) != 0 {
			return c.Errf("endpoint_pod_names takes no arguments, got %d", len(args))
		}
		k.podNames, cfg.podNames = true, true
	case "ignore":
		if len(args) != 1 || args[0] != "empty_service" {
			return c.Errf("ignore needs empty_service, got %q", strings.Join(args, " "))
		}
		// A ClusterIP service's answers then depend on its slices: every
		// slice is watched.
		k.ignoreEmpty, cfg.allSlices = true, true
	case "fallthrough":
		k.Fall.SetZonesFromArgs(args)
		for i, z := range k.Fall.Zones {
			k.Fall.Zones[i] = strings.ToLower(z)
		}
	default:
		if handled, err := parseAPIOption(c, &cfg.api, opt, args); handled {
			return err
		}
		return c.Errf("unknown option %q", opt)
	}
	return nil
}

// parseTTL reads the one argument of a TTL option into ttl: seconds, 0 to
// maxTTL.
func parseTTL(c *caddy.Controller, opt string, args []string, ttl *uint32) error {
	if len(args) != 1 {
		return c.Errf("%s needs one number of seconds, got %d arguments", opt, len(args))
	}
	t, err := strconv.Atoi(args[0])
	if err != nil || t < 0 || t > maxTTL {
		return c.Errf("%s %q is not a number of seconds from 0 to %d", opt, args[0], maxTTL)
	}
	*ttl = uint32(t)
	return nil
}

func parsePods(c *caddy.Controller, k *KubeSvc, args []string) error {
	if len(args) != 1 {
		return c.Errf("pods needs one of disabled, insecure")
	}
	switch args[0] {
	case "disabled":
		k.pods = false
	case "insecure":
		k.pods = true
	case "verified":
		return c.Errf("pods verified is not supported: kubesvc does not watch Pods; use `pods insecure` " +
			"(answers <a-b-c-d>.<namespace>.pod.<zone> with the address in the name, as verified does for a running Pod) " +
			"or `pods disabled`")
	default:
		return c.Errf("pods %q: want disabled or insecure", args[0])
	}
	return nil
}

// setZones normalises the zones and builds their fixed records.
func (k *KubeSvc) setZones(names []string) error {
	first := ""
	norm := make([]string, len(names))
	for i, n := range names {
		norm[i] = strings.ToLower(dns.Fqdn(n))
		if first == "" && !isReverse(norm[i]) {
			first = norm[i]
		}
	}
	if first == "" {
		return fmt.Errorf("zones %v: at least one zone must be a forward zone such as cluster.local", names)
	}
	for _, mz := range k.mcZones {
		if !slices.Contains(norm, mz) || isReverse(mz) {
			return fmt.Errorf("multicluster zone %s must be one of the plugin's forward zones %v", mz, names)
		}
	}
	var fwd, mc []string
	for _, n := range norm {
		z := zone{name: n, reverse: isReverse(n), nsName: within("ns.dns", first), podZone: within("pod", n)}
		switch {
		case z.reverse:
		case slices.Contains(k.mcZones, n):
			z.multicluster, z.nsName = true, within("ns.dns", n)
			mc = append(mc, n)
		default:
			z.nsName = within("ns.dns", n)
			fwd = append(fwd, n)
		}
		z.ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: k.ttl}, Ns: z.nsName}}
		k.zones = append(k.zones, z)
	}
	k.soas = make([]atomic.Pointer[[]dns.RR], len(k.zones))
	if len(fwd) == 0 {
		// Services' names and every PTR record's target need a zone of
		// their own besides the multicluster ones.
		return fmt.Errorf("zones %v: at least one zone must be a forward zone other than the multicluster ones", names)
	}
	k.ptrZone = fwd[0]
	k.w = newWatcher(records{zones: fwd, mcZones: mc, ttl: k.ttl, podNames: k.podNames, ignoreEmpty: k.ignoreEmpty, zonal: k.zonal}, k.pods)
	k.ix = k.w.ix
	return nil
}

// isReverse reports whether a zone holds only reverse (PTR) names.
func isReverse(zone string) bool {
	return dns.IsSubDomain("in-addr.arpa.", zone) || dns.IsSubDomain("ip6.arpa.", zone)
}

// restConfig builds the API client's configuration: a kubeconfig file, or
// the in-cluster service account, or a bare endpoint (kubectl proxy).
func (cfg *clientConfig) restConfig() (*rest.Config, error) {
	var (
		rc  *rest.Config
		err error
	)
	switch {
	case cfg.kubeconfig != "":
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.kubeconfig}
		over := &clientcmd.ConfigOverrides{CurrentContext: cfg.context}
		if cfg.endpoint != "" {
			over.ClusterInfo.Server = cfg.endpoint
		}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", cfg.kubeconfig, err)
		}
	case cfg.endpoint != "":
		rc = &rest.Config{Host: cfg.endpoint}
	default:
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig or endpoint given, and not running in a cluster: %w", err)
		}
	}
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	rc.UserAgent = "coredns-kubesvc"
	// Lists and watch streams would come gzipped: on a cluster's network
	// that saves little and costs CPU on both ends, a quarter of ours while
	// syncing (a sync of 5,000 services took 0.77 s, now 0.57 s).
	rc.DisableCompression = true
	cfg.api.apply(rc, cfg.endpoint != "")
	return rc, nil
}
