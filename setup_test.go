package kubesvc

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		input     string
		keys      []string // the server block's keys
		shouldErr string   // part of the error, "" for none
		zones     []string
		ttl       uint32
		pods      bool
		cfg       clientConfig
		fall      bool // falls through for in-addr.arpa.
	}{
		{input: "kubesvc", keys: []string{".:53"}, zones: []string{"."}, ttl: 5},
		{input: "kubesvc", keys: []string{"cluster.local:53", "10.in-addr.arpa:53"}, zones: []string{"cluster.local.", "10.in-addr.arpa."}, ttl: 5},
		{input: "kubesvc cluster.local", zones: []string{"cluster.local."}, ttl: 5},
		{input: "kubesvc Cluster.Local. in-addr.arpa ip6.arpa", zones: []string{"cluster.local.", "in-addr.arpa.", "ip6.arpa."}, ttl: 5},
		// kubeadm's default block, renamed.
		{input: `kubesvc cluster.local in-addr.arpa ip6.arpa {
			pods insecure
			fallthrough in-addr.arpa ip6.arpa
			ttl 30
		}`, zones: []string{"cluster.local.", "in-addr.arpa.", "ip6.arpa."}, ttl: 30, pods: true, fall: true},
		{input: `kubesvc cluster.local {
			kubeconfig /etc/kube.conf admin@cluster
			endpoint https://10.0.0.1:6443
			namespaces default kube-system
			namespaces test
			labels app=web,tier!=db
			ttl 0
			pods disabled
			fallthrough
		}`, zones: []string{"cluster.local."}, ttl: 0, fall: true, cfg: clientConfig{
			kubeconfig: "/etc/kube.conf", context: "admin@cluster", endpoint: "https://10.0.0.1:6443",
			namespaces: []string{"default", "kube-system", "test"}, labels: "app=web,tier!=db"}},
		{input: "kubesvc cluster.local {\nttl 3600\n}", zones: []string{"cluster.local."}, ttl: 3600},
		// Stock's deprecated list of endpoints: the first is used.
		{input: "kubesvc cluster.local {\nendpoint https://10.0.0.1:6443 https://10.0.0.2:6443\n}", zones: []string{"cluster.local."}, ttl: 5,
			cfg: clientConfig{endpoint: "https://10.0.0.1:6443"}},
		{input: "kubesvc cluster.local {\nendpoint https://10.0.0.1:6443 10.0.0.2\n}", zones: []string{"cluster.local."}, ttl: 5,
			cfg: clientConfig{endpoint: "https://10.0.0.1:6443"}},

		{input: "kubesvc cluster.local {\nttl 3601\n}", shouldErr: "ttl"},
		{input: "kubesvc cluster.local {\nttl -1\n}", shouldErr: "ttl"},
		{input: "kubesvc cluster.local {\nttl five\n}", shouldErr: "ttl"},
		{input: "kubesvc cluster.local {\nttl\n}", shouldErr: "ttl"},
		{input: "kubesvc cluster.local {\nttl 1 2\n}", shouldErr: "ttl"},
		{input: "kubesvc cluster.local {\npods verified\n}", shouldErr: "pods verified is not supported: kubesvc does not watch Pods; use `pods insecure`"},
		{input: "kubesvc cluster.local {\npods maybe\n}", shouldErr: "pods"},
		{input: "kubesvc cluster.local {\npods\n}", shouldErr: "pods"},
		{input: "kubesvc cluster.local {\nkubeconfig\n}", shouldErr: "kubeconfig"},
		{input: "kubesvc cluster.local {\nkubeconfig a b c\n}", shouldErr: "kubeconfig"},
		{input: "kubesvc cluster.local {\nendpoint\n}", shouldErr: "endpoint"},
		{input: "kubesvc cluster.local {\nendpoint 10.0.0.1:6443\n}", shouldErr: "endpoint"},
		{input: "kubesvc cluster.local {\nnamespaces\n}", shouldErr: "namespaces"},
		{input: "kubesvc cluster.local {\nnamespaces Bad_NS\n}", shouldErr: "namespaces"},
		{input: "kubesvc cluster.local {\nlabels\n}", shouldErr: "labels"},
		{input: "kubesvc cluster.local {\nlabels app in (\n}", shouldErr: "labels"},
		{input: "kubesvc cluster.local {\nnoendpoints\n}", zones: []string{"cluster.local."}, ttl: 5, cfg: clientConfig{noEndpoints: true}},
		{input: "kubesvc cluster.local {\nnoendpoints now\n}", shouldErr: "noendpoints takes no arguments"},
		{input: "kubesvc cluster.local {\nnamespace_labels team in (a, b) , !legacy\n}", zones: []string{"cluster.local."}, ttl: 5,
			cfg: clientConfig{namespaceLabels: "!legacy,team in (a,b)"}},
		{input: "kubesvc cluster.local {\nnamespace_labels\n}", shouldErr: "namespace_labels needs a label selector"},
		{input: "kubesvc cluster.local {\nnamespace_labels team in (\n}", shouldErr: "namespace_labels needs a label selector"},
		{input: "kubesvc cluster.local {\nnamespaces a\nnamespace_labels team=a\n}", shouldErr: "namespaces and namespace_labels cannot both be set"},
		{input: "kubesvc cluster.local {\nendpoint_pod_names yes\n}", shouldErr: "endpoint_pod_names takes no arguments"},
		{input: "kubesvc cluster.local {\nignore\n}", shouldErr: "ignore needs empty_service"},
		{input: "kubesvc cluster.local {\nignore empty_services\n}", shouldErr: "ignore needs empty_service"},
		{input: "kubesvc cluster.local {\nignore empty_service empty_service\n}", shouldErr: "ignore needs empty_service"},
		{input: "kubesvc cluster.local {\nzonal\n}", zones: []string{"cluster.local."}, ttl: 5},
		{input: "kubesvc cluster.local {\nzonal pin\n}", shouldErr: "zonal takes no arguments"},
		{input: "kubesvc cluster.local {\nzonal\nnoendpoints\n}", shouldErr: "zonal needs the endpoints that noendpoints turns off"},
		{input: "kubesvc cluster.local clusterset.local {\nmulticluster clusterset.local\n}", zones: []string{"cluster.local.", "clusterset.local."}, ttl: 5},
		{input: "kubesvc cluster.local {\nmulticluster\n}", shouldErr: "multicluster needs the zones of ServiceImports"},
		{input: "kubesvc cluster.local {\nmulticluster clusterset.local\n}", shouldErr: "multicluster zone clusterset.local. must be one of the plugin's forward zones"},
		{input: "kubesvc cluster.local in-addr.arpa {\nmulticluster in-addr.arpa\n}", shouldErr: "must be one of the plugin's forward zones"},
		{input: "kubesvc cluster.local {\nmulticluster a..b\n}", shouldErr: "is not a zone"},
		{input: "kubesvc clusterset.local {\nmulticluster clusterset.local\n}", shouldErr: "at least one zone must be a forward zone other than the multicluster ones"},
		{input: "kubesvc in-addr.arpa", shouldErr: "forward zone"},
		{input: "kubesvc cluster.local\nkubesvc example.org", shouldErr: "once per server block"},
	} {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = tc.keys
		k, cfg, err := parse(c)
		if tc.shouldErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.shouldErr) {
				t.Errorf("%q: want an error about %q, got %v", tc.input, tc.shouldErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: unexpected error %v", tc.input, err)
			continue
		}
		var zones []string
		for _, z := range k.zones {
			zones = append(zones, z.name)
		}
		if !slices.Equal(zones, tc.zones) {
			t.Errorf("%q: zones %v, want %v", tc.input, zones, tc.zones)
		}
		if k.ttl != tc.ttl || k.pods != tc.pods {
			t.Errorf("%q: ttl %d pods %v, want %d %v", tc.input, k.ttl, k.pods, tc.ttl, tc.pods)
		}
		if got := k.Fall.Through("1.in-addr.arpa."); got != tc.fall {
			t.Errorf("%q: falls through %v, want %v", tc.input, got, tc.fall)
		}
		if cfg.kubeconfig != tc.cfg.kubeconfig || cfg.context != tc.cfg.context || cfg.endpoint != tc.cfg.endpoint ||
			!slices.Equal(cfg.namespaces, tc.cfg.namespaces) || cfg.labels != tc.cfg.labels ||
			cfg.namespaceLabels != tc.cfg.namespaceLabels || cfg.noEndpoints != tc.cfg.noEndpoints {
			t.Errorf("%q: client config %+v, want %+v", tc.input, *cfg, tc.cfg)
		}
	}
}

func TestSetupErrorsNamePlugin(t *testing.T) {
	err := setup(caddy.NewTestController("dns", "kubesvc cluster.local {\nbogus\n}"))
	if err == nil || !strings.Contains(err.Error(), "kubesvc") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("want a plugin error naming kubesvc and the option, got %v", err)
	}
	err = setup(caddy.NewTestController("dns", "kubesvc cluster.local {\nkubeconfig /nonexistent/kubeconfig\n}"))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") {
		t.Fatalf("want an error naming the missing kubeconfig, got %v", err)
	}
}

// The REST clients know only Services and EndpointSlices: a list, a watch,
// the options they carry and an error from the API server must still come
// through as client-go's clientset would deliver them.
func TestRestAPI(t *testing.T) {
	var selectors []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		selectors = append(selectors, r.URL.Query().Get("labelSelector"))
		switch {
		case r.URL.Path == "/api/v1/namespaces/default/services" && r.URL.Query().Get("watch") == "true":
			fmt.Fprint(w, `{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"new","namespace":"default","resourceVersion":"8"}}}`+"\n")
		case r.URL.Path == "/api/v1/namespaces/default/services":
			fmt.Fprint(w, `{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"7"},
				"items":[{"metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.96.0.5"}}]}`)
		case r.URL.Path == "/apis/discovery.k8s.io/v1/endpointslices":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,
				"message":"endpointslices.discovery.k8s.io is forbidden"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	a := restAPIAt(t, srv.URL)
	ctx := context.Background()

	obj, err := a.list(ctx, "services", "default", metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatalf("list services: %v", err)
	}
	if l, ok := obj.(*corev1.ServiceList); !ok || len(l.Items) != 1 || l.Items[0].Spec.ClusterIP != "10.96.0.5" || l.ResourceVersion != "7" {
		t.Errorf("list services: got %#v", obj)
	}
	if _, err := a.list(ctx, "endpointslices", "", metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list endpointslices: got %v, want a Forbidden error", err)
	}
	wi, err := a.watch(ctx, "services", "default", metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatalf("watch services: %v", err)
	}
	defer wi.Stop()
	ev := <-wi.ResultChan()
	if s, ok := ev.Object.(*corev1.Service); ev.Type != watch.Added || !ok || s.Name != "new" || s.ResourceVersion != "8" {
		t.Errorf("watch services: got %s %#v", ev.Type, ev.Object)
	}
	if want := []string{"app=web", "", "app=web"}; !slices.Equal(selectors, want) {
		t.Errorf("label selectors sent: %q, want %q", selectors, want)
	}
}
