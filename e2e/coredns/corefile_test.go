package coredns

import (
	"strings"
	"testing"
)

const kubeadmExample = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubesvc cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`

func TestFromExample(t *testing.T) {
	p := Ports{DNS: 1053, Health: 8080, Ready: 8181, Metrics: 9153, Upstream: 1054}
	got, err := FromExample(kubeadmExample, p, "/tmp/kc")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		".:1053 {\n",
		"    health 127.0.0.1:8080 {\n       lameduck 5s\n",
		"    ready 127.0.0.1:8181\n",
		"    kubesvc cluster.local in-addr.arpa ip6.arpa {\n        kubeconfig /tmp/kc\n       pods insecure\n",
		"    prometheus 127.0.0.1:9153\n",
		"    forward . 127.0.0.1:1054 {\n       max_concurrent 1000\n",
		".:1054 {\n    hosts {\n        172.67.165.72 blog.mosuke.tech\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("generated Corefile lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "/etc/resolv.conf") || strings.Contains(got, ":53 ") {
		t.Errorf("generated Corefile still uses the machine's resolvers or port 53:\n%s", got)
	}

	// A connection already in the example is replaced, not kept.
	withEndpoint := strings.Replace(kubeadmExample, "pods insecure", "endpoint https://10.0.0.1:6443\n       pods insecure", 1)
	got, err = FromExample(withEndpoint, p, "/tmp/kc")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "endpoint") {
		t.Errorf("endpoint line kept:\n%s", got)
	}

	for name, bad := range map[string]string{
		"no-kubesvc": strings.Replace(kubeadmExample, "kubesvc", "kubernetes", 1),
		"no-forward": strings.Replace(kubeadmExample, "/etc/resolv.conf", "127.0.0.1:5300", 1),
		"no-port-53": strings.Replace(kubeadmExample, ".:53", ".:5353", 1),
	} {
		if _, err := FromExample(bad, p, "/tmp/kc"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// "server:prometheus" listens on each server's own metrics port: the options
// are shared by both servers of a differential pair.
func TestPluginCorefilePrometheusOnTheServersPort(t *testing.T) {
	p := Ports{DNS: 1053, Health: 8080, Ready: 8181, Metrics: 9153, Upstream: 1054}
	got := PluginCorefile("kubesvc", p, "/kc", "server:prometheus", "server:transfer { to * }", "ttl 5")
	for _, want := range []string{"\n    prometheus 127.0.0.1:9153\n", "\n    transfer { to * }\n", "\n        ttl 5\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("PluginCorefile has no line %q:\n%s", strings.TrimSpace(want), got)
		}
	}
}
