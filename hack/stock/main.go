// Command coredns-stock is stock CoreDNS, exactly as upstream builds it: every
// plugin of the release (the stock kubernetes plugin among them) in the stock
// order. The benchmark (e2e/cmd/bench) runs it as the baseline kubesvc is
// compared against. Built into bin/coredns-stock by hack/build-stock.sh; the
// CoreDNS version is pinned by this module's go.mod.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/core/plugin" // every stock plugin
)

func main() {
	coremain.Run()
}
