// Command coredns is CoreDNS with the kubesvc plugin standing where the
// stock kubernetes plugin stands, and only the plugins a cluster's DNS uses.
package main

import (
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/caddy/onevent"
	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/any"
	_ "github.com/coredns/coredns/plugin/auto"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/bufsize"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/cancel"
	_ "github.com/coredns/coredns/plugin/chaos"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/dns64"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/header"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/local"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/minimal"
	_ "github.com/coredns/coredns/plugin/nsid"
	_ "github.com/coredns/coredns/plugin/pprof"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/timeouts"
	_ "github.com/coredns/coredns/plugin/transfer"
	_ "github.com/coredns/coredns/plugin/view"
	_ "github.com/coredns/coredns/plugin/whoami"
	_ "github.com/kubesvc/kubesvc"
)

func main() {
	dnsserver.Directives = directives(dnsserver.Directives, registered())
	coremain.Run()
}

// directives is CoreDNS's stock plugin order with kubesvc where kubernetes
// stands (after hosts, rewrite and template, before forward), keeping only
// the plugins compiled into this binary.
func directives(stock []string, have map[string]bool) []string {
	out := make([]string, 0, len(stock))
	for _, d := range stock {
		if d == "kubernetes" {
			d = "kubesvc"
		}
		if have[d] {
			out = append(out, d)
		}
	}
	return slices.Clip(out)
}

// registered lists the plugins compiled in, by directive name: caddy lists
// them as "dns.<name>", or bare for plugins of no server type ("on").
func registered() map[string]bool {
	have := map[string]bool{}
	for _, p := range caddy.ListPlugins()["others"] {
		have[strings.TrimPrefix(p, "dns.")] = true
	}
	return have
}
