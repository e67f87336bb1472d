package kubesvc

import (
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Services with equal ports share one list; others keep their own, and a
// list no service holds any more is forgotten.
func TestEqualPortListsAreShared(t *testing.T) {
	web := func(name string, ports ...corev1.ServicePort) *service {
		obj, err := toService(clusterIPSvc("shared-ports", name, []string{"10.96.6.1"}, ports...))
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*service)
	}
	http, https := svcPort("http", corev1.ProtocolTCP, 80), svcPort("https", corev1.ProtocolTCP, 443)
	a, b := web("a", http, https), web("b", svcPort("HTTP", corev1.ProtocolTCP, 80), https)
	c, d := web("c", http), web("d", https, http)
	e := web("e", svcPort("http", corev1.ProtocolUDP, 80), https)
	if &a.ports()[0] != &b.ports()[0] {
		t.Error("two services with the same ports do not share them")
	}
	for _, other := range []*service{c, d, e} {
		if &a.ports()[0] == &other.ports()[0] {
			t.Errorf("%s shares %s's ports: %v, %v", other.key(), a.key(), other.ports(), a.ports())
		}
	}
	if got := d.ports(); len(got) != 2 || got[0].name != "https" || got[1].name != "http" || e.ports()[0].proto != protoUDP {
		t.Errorf("ports not kept as given: %v, %v", got, e.ports())
	}
	key := portsKey(d.ports())
	runtime.KeepAlive(d)
	d = nil
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		runtime.GC()
		portLists.Lock()
		_, held := portLists.byKey[key]
		portLists.Unlock()
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ports of a service that is gone are still listed")
		}
	}
	runtime.KeepAlive(a)
}
