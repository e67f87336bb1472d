package kubesvc

import (
	"slices"
	"sync"
	"sync/atomic"
)

// protocol is a port's lower-cased protocol, as a byte: every port of every
// stored object has one, and a string would take 16 bytes of each. The API
// server takes only TCP, UDP and SCTP; any other protocol (a fake client's,
// or a future one's) is interned in otherProtos.
type protocol uint8

const (
	protoTCP protocol = iota
	protoUDP
	protoSCTP
	firstOtherProto
)

var knownProtos = [firstOtherProto]string{protoTCP: "tcp", protoUDP: "udp", protoSCTP: "sctp"}

// otherProtos interns the protocols beyond the known ones; names is
// replaced, never modified, so queries read it without the lock.
var otherProtos struct {
	sync.Mutex
	names atomic.Pointer[[]string]
}

// protocolOf is the protocol of a lower-cased name; ok is false once
// otherProtos is full, which takes 253 protocols the API server refuses.
func protocolOf(name string) (protocol, bool) {
	if i := slices.Index(knownProtos[:], name); i >= 0 {
		return protocol(i), true
	}
	otherProtos.Lock()
	defer otherProtos.Unlock()
	var names []string
	if p := otherProtos.names.Load(); p != nil {
		names = *p
	}
	if i := slices.Index(names, name); i >= 0 {
		return firstOtherProto + protocol(i), true
	}
	if len(names) >= 256-int(firstOtherProto) {
		return 0, false
	}
	names = append(slices.Clip(names), name)
	otherProtos.names.Store(&names)
	return firstOtherProto + protocol(len(names)-1), true
}

// String is the protocol's lower-cased name, as SRV names carry it.
func (p protocol) String() string {
	if p < firstOtherProto {
		return knownProtos[p]
	}
	return (*otherProtos.names.Load())[p-firstOtherProto]
}
