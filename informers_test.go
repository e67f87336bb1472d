package kubesvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// refusingInformer refuses event handlers, as a stopped informer does.
type refusingInformer struct{ informer }

func (refusingInformer) AddEventHandler(cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return nil, errors.New("handler was not added to shared informer because it has stopped already")
}

// An informer that cannot be set up (its event handler refused, or its
// transform because it already ran) must not leave the index to be
// published without its resource: every name that exists would then get
// NXDOMAIN. The plugin stays unready, answers SERVFAIL, and logs why.
func TestInformerSetupFailureKeepsServfail(t *testing.T) {
	for _, tc := range []struct {
		name, logged string
		broken       func(informer) informer
	}{
		{"event handler refused", "adding the event handler", func(inf informer) informer {
			return refusingInformer{inf}
		}},
		{"transform refused", "setting the transform", func(inf informer) informer {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			inf.RunWithContext(ctx) // it ran and stopped
			return inf
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureLog(t)
			orig := newInformer
			t.Cleanup(func() { newInformer = orig })
			newInformer = func(lw cache.ListerWatcher, obj runtime.Object, resync time.Duration, idx cache.Indexers) informer {
				inf := orig(lw, obj, resync, idx)
				if _, ok := obj.(*discovery.EndpointSlice); ok {
					return tc.broken(inf)
				}
				return inf
			}
			k, cfg, err := parse(caddy.NewTestController("dns", clusterCorefile))
			if err != nil {
				t.Fatal(err)
			}
			k.w.start(fakeAPI{c: fake.NewClientset(seed()...)}, cfg)
			t.Cleanup(k.w.stop)
			time.Sleep(500 * time.Millisecond) // the services informer alone would have synced by now
			if k.Ready() {
				t.Errorf("ready, with the endpointslices informer not running")
			}
			for _, name := range []string{"sample-headless.default.svc.cluster.local.", "sample-clusterip.default.svc.cluster.local."} {
				if rcode, m := ask(k, test.Case{Qname: name, Qtype: dns.TypeA}); rcode != dns.RcodeServerFailure || m != nil {
					t.Errorf("%s: rcode %s, message %v; want SERVFAIL", name, dns.RcodeToString[rcode], m)
				}
			}
			if got := logs.lines("[ERROR]", "cannot watch the Kubernetes API", "endpointslices: "+tc.logged); len(got) != 1 {
				t.Errorf("want one error naming the endpointslices informer and %q; log:\n%s", tc.logged, logs)
			}
		})
	}
}

// An invalid externalName is warned of once per value: not again on
// updates of the service that keep it, nor when a reload starts a new
// plugin instance that lists it again; again when it changes.
func TestInvalidExternalNameWarnedOnce(t *testing.T) {
	logs := captureLog(t)
	const ns = "warn-once"
	svc := externalSvc(ns, "ip", "10.1.2.3")
	k, client := newTestKubeSvc(t, clusterCorefile, svc)
	ctx := context.Background()
	update := func(target, rv string) {
		t.Helper()
		s := externalSvc(ns, "ip", target)
		s.ResourceVersion, s.Labels = rv, map[string]string{"rv": rv}
		if _, err := client.CoreV1().Services(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "update "+rv, func() bool {
			k.w.mu.Lock()
			defer k.w.mu.Unlock()
			s := k.w.implicit(ns + "/ip")
			if st, _ := k.w.svcs.Get(ns + "/ip"); st != nil {
				s = st.svc
			}
			return s != nil && s.GetObjectMeta().GetResourceVersion() == rv
		})
	}
	update("10.1.2.3", "2")
	update("10.1.2.3", "3")
	newTestKubeSvc(t, clusterCorefile, svc) // a reload: a second instance lists it again
	warnings := func() []string { return logs.lines("[WARNING]", "service "+ns+"/ip: externalName") }
	if got := warnings(); len(got) != 1 {
		t.Fatalf("after two updates and a reload keeping 10.1.2.3: %d warnings, want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
	update("not a name!", "4")
	update("not a name!", "5")
	got := warnings()
	if len(got) != 2 || !strings.Contains(got[1], fmt.Sprintf("%q", "not a name!")) {
		t.Errorf("after the value changed: want a second warning naming it, got:\n%s", strings.Join(got, "\n"))
	}
}

// An object of another type than the transform makes is a bug: the
// handlers log it instead of dropping it in silence.
func TestHandlersLogUnexpectedObjects(t *testing.T) {
	logs := captureLog(t)
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 5}, false)
	raw := externalSvc("default", "raw", "example.com") // not transformed
	w.serviceHandler().OnAdd(raw, false)
	w.serviceHandler().OnUpdate(raw, raw)
	w.serviceHandler().OnDelete(raw)
	w.sliceHandler().OnAdd(raw, false)
	w.sliceHandler().OnUpdate(raw, raw)
	w.sliceHandler().OnDelete(raw)
	if got := logs.lines("[ERROR]", "an informer delivered a *v1.Service"); len(got) != 6 {
		t.Errorf("%d errors logged for six unexpected objects, want 6:\n%s", len(got), logs)
	}
}
