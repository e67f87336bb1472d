package coredns

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// UpstreamHosts is what the local "upstream" knows: a hosts server block
// stands in for the resolvers forward would use, so nothing leaves the
// machine. The names are the external names of testdata/cluster.
// 203.0.113.7 (a documentation address) exists only so that a reverse query
// that kubesvc must pass on has a positive answer upstream.
var UpstreamHosts = []struct{ IP, Name string }{
	{"172.67.165.72", "blog.mosuke.tech"},
	{"104.21.57.182", "blog.mosuke.tech"},
	{"5.9.243.187", "wttr.in"},
	{"172.217.31.132", "www.google.com"},
	{"93.184.215.14", "example.com"},
	{"203.0.113.7", "reverse.upstream.test"},
}

// UpstreamBlock is the hosts server block on port.
func UpstreamBlock(port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".:%d {\n    hosts {\n", port)
	for _, h := range UpstreamHosts {
		fmt.Fprintf(&b, "        %s %s\n", h.IP, h.Name)
	}
	b.WriteString("    }\n}\n")
	return b.String()
}

// E2ECorefile is the Corefile most tests run: no cache (it would hide the
// churn the tests check), every port on loopback, ttl 30.
func E2ECorefile(p Ports, kubeconfig string) string {
	return fmt.Sprintf(`.:%d {
    errors
    health 127.0.0.1:%d
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    kubesvc cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . 127.0.0.1:%d
    loop
    loadbalance
}
`, p.DNS, p.Health, p.Ready, p.Metrics, kubeconfig, p.Upstream) + UpstreamBlock(p.Upstream)
}

// PluginCorefile serves cluster.local and the reverse zones with directive,
// "kubesvc" (bin/coredns) or stock's "kubernetes" (bin/coredns-stock), both
// with the same options, so that their answers compare; what the plugin
// passes on goes to the local upstream block. Each of options is one more
// line in the plugin's block (such as "endpoint_pod_names"); a line that
// starts with "server:" goes into the server block instead, after the
// plugin (such as "server:transfer { to * }"); "server:prometheus" serves
// the metrics on p.Metrics on loopback, as the options are the same for
// both servers and their ports are not; "zones:Z..." adds the zones Z to
// the plugin's, after cluster.local (such as "zones:clusterset.local").
func PluginCorefile(directive string, p Ports, kubeconfig string, options ...string) string {
	var block, server strings.Builder
	zones := "cluster.local in-addr.arpa ip6.arpa"
	for _, o := range options {
		if rest, ok := strings.CutPrefix(o, "zones:"); ok { // more zones of the plugin
			zones = "cluster.local " + rest + " in-addr.arpa ip6.arpa"
			continue
		}
		if rest, ok := strings.CutPrefix(o, "server:"); ok {
			if rest == "prometheus" {
				rest = "prometheus " + hostPort(p.Metrics)
			}
			server.WriteString("    " + rest + "\n")
			continue
		}
		block.WriteString("        " + o + "\n")
	}
	return fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    errors
    ready 127.0.0.1:%d
    %s %s {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
%s    }
%s    forward . 127.0.0.1:%d
}
`, p.DNS, p.Ready, directive, zones, kubeconfig, block.String(), server.String(), p.Upstream) + UpstreamBlock(p.Upstream)
}

// ForwardCorefile is the smallest server a test of kubesvc's chases needs:
// kubesvc for cluster.local (ttl 30) and forward to upstream, a port on
// 127.0.0.1 where the test's own upstream listens.
func ForwardCorefile(p Ports, kubeconfig string, upstream int) string {
	return ForwardCorefileFor("kubesvc", p, kubeconfig, upstream)
}

// ForwardCorefileFor is ForwardCorefile with directive (kubesvc, or stock's
// kubernetes) for cluster.local.
func ForwardCorefileFor(directive string, p Ports, kubeconfig string, upstream int) string {
	return fmt.Sprintf(`.:%d {
    errors
    ready 127.0.0.1:%d
    %s cluster.local {
        kubeconfig %s
        ttl 30
    }
    forward . 127.0.0.1:%d
}
`, p.DNS, p.Ready, directive, kubeconfig, upstream)
}

// KubeadmCorefile is kubeadm's default CoreDNS Corefile with kubesvc where
// kubernetes stands, a kubeconfig line, the listeners moved to loopback ports
// and forward pointed at the local upstream block.
func KubeadmCorefile(p Ports, kubeconfig string) string {
	return fmt.Sprintf(`.:%d {
    errors
    health 127.0.0.1:%d {
       lameduck 5s
    }
    ready 127.0.0.1:%d
    kubesvc cluster.local in-addr.arpa ip6.arpa {
       kubeconfig %s
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus 127.0.0.1:%d
    forward . 127.0.0.1:%d {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
`, p.DNS, p.Health, p.Ready, kubeconfig, p.Metrics, p.Upstream) + UpstreamBlock(p.Upstream)
}

// The rewrites FromExample makes, line by line.
var (
	reServerKey  = regexp.MustCompile(`^(\s*)\.:53(\s*\{\s*)$`)
	reForward    = regexp.MustCompile(`^(\s*)forward\s+\.\s+/etc/resolv\.conf\b(.*)$`)
	reKubesvc    = regexp.MustCompile(`^(\s*)kubesvc\b[^{]*\{\s*$`)
	reConnection = regexp.MustCompile(`^\s*(kubeconfig|endpoint)\b`)
	reHealth     = regexp.MustCompile(`^(\s*)health(\s*(\{.*)?)$`)
	reReady      = regexp.MustCompile(`^(\s*)ready\s*$`)
	rePrometheus = regexp.MustCompile(`^(\s*)prometheus(\s+:\d+)?\s*$`)
)

// FromExample turns the repository's Corefile.example (a kubeadm-style
// Corefile with kubesvc) into one that runs on this machine only:
//   - the ".:53" server block listens on 127.0.0.1's p.DNS instead;
//   - kubesvc's connection (kubeconfig/endpoint lines) becomes "kubeconfig PATH";
//   - "forward . /etc/resolv.conf" forwards to the local upstream hosts block,
//     which is appended;
//   - health, ready and prometheus listen on p's loopback ports.
//
// It fails if the example does not have that shape; callers then fall back
// to KubeadmCorefile.
func FromExample(example string, p Ports, kubeconfig string) (string, error) {
	var out []string
	var sawKey, sawForward, sawKubesvc bool
	inKubesvc := false
	for _, line := range strings.Split(example, "\n") {
		switch {
		case inKubesvc && strings.TrimSpace(line) == "}":
			inKubesvc = false
		case inKubesvc && reConnection.MatchString(line):
			continue
		case reServerKey.MatchString(line):
			line = reServerKey.ReplaceAllString(line, "${1}.:"+strconv.Itoa(p.DNS)+"${2}")
			sawKey = true
		case reForward.MatchString(line):
			line = reForward.ReplaceAllString(line, "${1}forward . 127.0.0.1:"+strconv.Itoa(p.Upstream)+"${2}")
			sawForward = true
		case reKubesvc.MatchString(line):
			if sawKubesvc {
				return "", fmt.Errorf("more than one kubesvc block")
			}
			sawKubesvc, inKubesvc = true, true
			indent := reKubesvc.FindStringSubmatch(line)[1]
			out = append(out, line, indent+"    kubeconfig "+kubeconfig)
			continue
		case reHealth.MatchString(line):
			line = reHealth.ReplaceAllString(line, "${1}health 127.0.0.1:"+strconv.Itoa(p.Health)+"${2}")
		case reReady.MatchString(line):
			line = reReady.ReplaceAllString(line, "${1}ready 127.0.0.1:"+strconv.Itoa(p.Ready))
		case rePrometheus.MatchString(line):
			line = rePrometheus.ReplaceAllString(line, "${1}prometheus 127.0.0.1:"+strconv.Itoa(p.Metrics))
		}
		out = append(out, line)
	}
	switch {
	case !sawKey:
		return "", fmt.Errorf("no \".:53 {\" server block")
	case !sawKubesvc:
		return "", fmt.Errorf("no \"kubesvc ... {\" block")
	case !sawForward:
		return "", fmt.Errorf("no \"forward . /etc/resolv.conf\" line")
	case inKubesvc:
		return "", fmt.Errorf("kubesvc block not closed")
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n" + UpstreamBlock(p.Upstream), nil
}

// SplitHorizonCorefile is the README's split-horizon setup (the seed's)
// on p.DNS: clients from inside (127.0.0.1, as the view says) get the
// cluster zone, the local upstream and example.com's internal addresses;
// everyone else gets example.com's public face (203.0.113.10, ttl 900) and
// REFUSED for other names. With single, only the first server block (one
// kubesvc instance), to compare what two instances ask of the API server.
func SplitHorizonCorefile(p Ports, kubeconfig string, single bool) string {
	external := fmt.Sprintf(`example.com:%d {
    kubesvc cluster.local {
        kubeconfig %s
    }
    k8s_external example.com {
        ingress
        hostnames
        public 203.0.113.10
        ttl 900
    }
}
`, p.DNS, kubeconfig)
	if single {
		external = ""
	}
	return fmt.Sprintf(`.:%d example.com:%d {
    view internal {
        expr client_ip() == '127.0.0.1'
    }
    errors
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    kubesvc cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        fallthrough in-addr.arpa ip6.arpa
    }
    k8s_external example.com {
        ingress
        hostnames
    }
    forward . 127.0.0.1:%d
}
`, p.DNS, p.DNS, p.Ready, p.Metrics, kubeconfig, p.Upstream) + external + UpstreamBlock(p.Upstream)
}
