package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

func TestDirectives(t *testing.T) {
	got := directives(dnsserver.Directives, registered())
	at := func(d string) int {
		i := slices.Index(got, d)
		if i < 0 {
			t.Fatalf("directive %q missing from %v", d, got)
		}
		return i
	}
	k := at("kubesvc")
	for _, before := range []string{"errors", "log", "cache", "rewrite", "template", "hosts", "loadbalance", "transfer"} {
		if at(before) > k {
			t.Errorf("%s must run before kubesvc: %v", before, got)
		}
	}
	for _, after := range []string{"file", "loop", "forward"} {
		if at(after) < k {
			t.Errorf("%s must run after kubesvc: %v", after, got)
		}
	}
	if slices.Contains(got, "kubernetes") {
		t.Errorf("the stock kubernetes plugin is not compiled in, yet listed: %v", got)
	}
	// Everything else keeps the stock order.
	stock := slices.DeleteFunc(slices.Clone(dnsserver.Directives), func(d string) bool { return !slices.Contains(got, d) && d != "kubernetes" })
	for i, d := range stock {
		if d == "kubernetes" {
			stock[i] = "kubesvc"
		}
	}
	if !slices.Equal(stock, got) {
		t.Errorf("order differs from stock:\n got %v\nwant %v", got, stock)
	}
	for _, d := range got {
		if !registered()[d] {
			t.Errorf("directive %q listed but not compiled in", d)
		}
	}
}

// A stock Corefile's `autopath @kubernetes` fails the start with an error
// that says to use kubesvc's own autopath option instead.
func TestAutopathPluginRefused(t *testing.T) {
	for _, in := range []string{"autopath @kubernetes", "autopath @kubesvc", "autopath cluster.local /etc/resolv.conf", "autopath"} {
		err := refuseAutopath(caddy.NewTestController("dns", in))
		if err == nil || !strings.Contains(err.Error(), in) || !strings.Contains(err.Error(), "`autopath [RESOLV_CONF]` inside the kubesvc block") {
			t.Errorf("%q: want an error naming the line and kubesvc's autopath option, got %v", in, err)
		}
	}
	if !slices.Contains(directives(dnsserver.Directives, registered()), "autopath") {
		t.Errorf("autopath is not a directive of this binary: a Corefile with it would fail as an unknown directive")
	}
}
