package main

import (
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
)

// The stock autopath plugin is not compiled in: kubesvc completes search
// paths itself, without the Pod watch that `autopath @kubernetes` needs.
// A Corefile written for stock CoreDNS still has that line; without this
// stand-in it would fail with "Unknown directive 'autopath'", which does
// not say what to do.
func init() { plugin.Register("autopath", refuseAutopath) }

func refuseAutopath(c *caddy.Controller) error {
	c.Next()
	args := c.RemainingArgs()
	line := strings.TrimSpace("autopath " + strings.Join(args, " "))
	return plugin.Error("autopath", c.Errf("%q is not supported: this CoreDNS has no autopath plugin; "+
		"kubesvc completes pods' search paths itself: remove this line and put `autopath [RESOLV_CONF]` "+
		"inside the kubesvc block (see kubesvc's README, Search-path completion)", line))
}
