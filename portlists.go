package kubesvc

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"unsafe"
	"weak"
)

// Most services name their ports as many others do (one "http" on 80, say):
// equal lists of ports are stored once, shared by every service that has
// them. A list is held weakly: it goes when its last service does.
var portLists struct {
	sync.Mutex
	byKey map[string]weak.Pointer[port] // the first port of a list, by portsKey
}

// sharedPorts is a list equal to ps, shared with the services that have
// one; ps itself (exactly sized) if none has. Stored lists are never
// modified, and neither may the result be.
func sharedPorts(ps []port) []port {
	if len(ps) == 0 {
		return nil
	}
	key := portsKey(ps)
	portLists.Lock()
	defer portLists.Unlock()
	if p := portLists.byKey[key].Value(); p != nil {
		return unsafe.Slice(p, len(ps))
	}
	if portLists.byKey == nil {
		portLists.byKey = map[string]weak.Pointer[port]{}
	}
	ps = slices.Clip(ps) // no room to append into behind the other holders' backs
	portLists.byKey[key] = weak.Make(&ps[0])
	runtime.AddCleanup(&ps[0], forgetPorts, key)
	return ps
}

// forgetPorts drops the entry of a list that is gone, unless an equal list
// took its key since.
func forgetPorts(key string) {
	portLists.Lock()
	defer portLists.Unlock()
	if portLists.byKey[key].Value() == nil {
		delete(portLists.byKey, key)
	}
}

// portsKey encodes a list of ports, in order: each one's name (a label: no
// NUL), a NUL, its number and its protocol.
func portsKey(ps []port) string {
	b := make([]byte, 0, len(ps)*12)
	for _, p := range ps {
		b = append(b, p.name...)
		b = append(b, 0)
		b = binary.BigEndian.AppendUint16(b, p.port)
		b = append(b, byte(p.proto))
	}
	return string(b)
}
