package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// namespaceReader is a user with the suite's CoreDNS role and the
// Namespaces role of deploy/overlays/namespace-labels (created from that
// file), which namespace_labels needs; it returns a kubeconfig for it.
func namespaceReader(t *testing.T) string {
	t.Helper()
	return overlayUser(t, "kubesvc-coredns-namespaces", "deploy/overlays/namespace-labels/rbac-namespaces.yaml")
}

// overlayUser is a user with the suite's CoreDNS role and the ClusterRoles
// of an overlay's RBAC file (created from that file, relative to the
// repository); it returns a kubeconfig for it, through the shared proxy.
func overlayUser(t *testing.T, user, rbacFile string) string {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	cfg, err := kube.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.DecodeFiles(filepath.Join(repoRoot, rbacFile))
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{cluster.CoreDNSRole}
	for _, o := range objs {
		role, ok := o.Obj.(*rbacv1.ClusterRole)
		if !ok {
			continue
		}
		if _, err := kube.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteRBAC(t, "ClusterRole", role.Name) })
		roles = append(roles, role.Name)
	}
	for _, r := range roles {
		b := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user + "-" + strings.ReplaceAll(r, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		}
		if _, err := kube.Client.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteRBAC(t, "ClusterRoleBinding", b.Name) })
	}
	cfg.Host = sharedProxy.URL()
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := cluster.WriteKubeconfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// deleteRBAC deletes a ClusterRole or ClusterRoleBinding a test created.
func deleteRBAC(t *testing.T, kind, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if kind == "ClusterRole" {
		err = kube.Client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	} else {
		err = kube.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete %s %s: %v", kind, name, err)
	}
}

// labelNamespace sets the label e2e-dns of namespace ns to value ("":
// removes it).
func labelNamespace(t *testing.T, ns, value string) {
	t.Helper()
	v := "null"
	if value != "" {
		v = fmt.Sprintf("%q", value)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{"e2e-dns":%s}}}`, v)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // also from a cleanup
	defer cancel()
	if _, err := kube.Client.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("label namespace %s: %v", ns, err)
	}
}

const (
	nslIn  = "e2e-nsl-in"
	nslOut = "e2e-nsl-out"
)

// nslObjects creates the same services in both namespaces, the first
// selected by e2e-dns=on, the second not; it returns each one's cluster IP
// and endpoint address.
func nslObjects(t *testing.T) map[string][2]string {
	out := map[string][2]string{}
	for i, ns := range []string{nslIn, nslOut} {
		namespace(t, ns)
		labelNamespace(t, ns, map[bool]string{true: "on", false: "off"}[i == 0])
		svc := createService(t, clusterIPService(ns, "svc1", "http", 80))
		createService(t, headlessService(ns, "hl", "http", 8080))
		addr := fmt.Sprintf("10.42.%d.1", i)
		createSlice(t, slice(ns, "hl-a", "hl", "http", 8080, ep{ip: addr, hostname: "web-0"}))
		createService(t, externalNameService(ns, "ext", "blog.mosuke.tech"))
		out[ns] = [2]string{svc.Spec.ClusterIP, addr}
	}
	t.Cleanup(func() {
		for _, ns := range []string{nslIn, nslOut} {
			labelNamespace(t, ns, "")
		}
	})
	return out
}

// nslQuestions are the forward questions about namespace ns.
func nslQuestions(ns string) []question {
	return []question{
		{"svc1." + ns + ".svc.cluster.local.", dns.TypeA},
		{"_http._tcp.svc1." + ns + ".svc.cluster.local.", dns.TypeSRV},
		{"hl." + ns + ".svc.cluster.local.", dns.TypeA},
		{"_http._tcp.hl." + ns + ".svc.cluster.local.", dns.TypeSRV},
		{"web-0.hl." + ns + ".svc.cluster.local.", dns.TypeA},
		{"ext." + ns + ".svc.cluster.local.", dns.TypeCNAME},
		{ns + ".svc.cluster.local.", dns.TypeA},
		{"10-1-2-3." + ns + ".pod.cluster.local.", dns.TypeA},
		{ns + ".pod.cluster.local.", dns.TypeA},
	}
}

// hasAnswer is a cond for eventually: name/qtype over udp has (or has not,
// want false) an answer record.
func hasAnswer(addr, name string, qtype uint16, want bool) func() (bool, string) {
	return func() (bool, string) {
		r, err := ask(addr, "udp", name, qtype, true)
		if err != nil {
			return false, err.Error()
		}
		return (len(r.Answer) > 0) == want, r.String()
	}
}

// With namespace_labels kubesvc serves only the selected namespaces, as
// stock does, on the same objects and questions; a namespace that comes to
// match gains its names and one that stops matching loses them, live, in
// both. One difference, on purpose: stock still answers the reverse names
// of services and endpoints in namespaces it does not serve (its reverse
// lookup checks namespaces only when the namespaces option is set), naming
// names it answers NXDOMAIN for; kubesvc serves no name of those namespaces.
func TestDifferentialNamespaceLabelsMatchesStock(t *testing.T) {
	suite(t)
	ips := nslObjects(t)
	kc := namespaceReader(t)
	kubesvc := startCoreDNS(t, "kubesvc", corednsBin, kc, func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, "namespace_labels e2e-dns=on")
	})
	stock := stockCoreDNS(t, "stock", func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubernetes", p, kc, "namespace_labels e2e-dns=on")
	})
	for _, s := range []*coredns.Server{kubesvc, stock} {
		if err := s.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	servers := map[string]*coredns.Server{"kubesvc": kubesvc, "stock": stock}
	compare := func(stage, served, unserved string) {
		t.Helper()
		for name, s := range servers {
			eventually(t, 30*time.Second, stage+": "+name+" serves "+served,
				hasAnswer(s.Ports.DNSAddr(), "web-0.hl."+served+".svc.cluster.local.", dns.TypeA, true))
			eventually(t, 30*time.Second, stage+": "+name+" does not serve "+unserved,
				hasAnswer(s.Ports.DNSAddr(), "svc1."+unserved+".svc.cluster.local.", dns.TypeA, false))
		}
		for _, ns := range []string{served, unserved} {
			for _, q := range nslQuestions(ns) {
				sameAsStock(t, kubesvc, stock, q.name, q.qtype)
			}
		}
		for _, ip := range ips[served] {
			sameAsStock(t, kubesvc, stock, reverse(t, ip), dns.TypePTR)
		}
		// The difference: kubesvc has no reverse names in unserved
		// namespaces, stock has.
		for _, ip := range ips[unserved] {
			for _, proto := range protos {
				if r := query(t, kubesvc.Ports.DNSAddr(), proto, reverse(t, ip), dns.TypePTR); len(r.Answer) != 0 {
					t.Errorf("%s: kubesvc PTR %s of unserved %s over %s: %v, want no answer", stage, ip, unserved, proto, r.Answer)
				}
				if r := query(t, stock.Ports.DNSAddr(), proto, reverse(t, ip), dns.TypePTR); len(r.Answer) == 0 {
					t.Logf("%s: stock no longer answers PTR %s of unserved %s: the README's note on it is out of date", stage, ip, unserved)
				}
			}
		}
		for _, proto := range protos {
			if r := query(t, kubesvc.Ports.DNSAddr(), proto, "svc1."+unserved+".svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
				t.Errorf("%s: kubesvc svc1.%s over %s: %s, want NXDOMAIN", stage, unserved, proto, dns.RcodeToString[r.Rcode])
			}
		}
	}
	compare("at start", nslIn, nslOut)
	labelNamespace(t, nslIn, "off")
	labelNamespace(t, nslOut, "on")
	compare("after relabelling", nslOut, nslIn)
}

// Without the RBAC on namespaces, namespace_labels cannot work: kubesvc
// never publishes (SERVFAIL, not ready, never a wrong NXDOMAIN) and says
// that it may not list namespaces. Together with the least-privilege user
// serving every other test, this shows namespaces are asked for only with
// the option.
func TestNamespaceLabelsWithoutNamespaceRBACServfails(t *testing.T) {
	suite(t)
	s := ownCoreDNS(t, "kubesvc", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, "namespace_labels e2e-dns=on")
	})
	if err := s.WaitServing(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the log names the forbidden namespaces", func() (bool, string) {
		return strings.Contains(s.Log(), "namespaces") && strings.Contains(strings.ToLower(s.Log()), "forbidden"), tail(s.Log(), 2000)
	})
	for _, proto := range protos {
		if r := query(t, s.Ports.DNSAddr(), proto, "kubernetes.default.svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: %s, want SERVFAIL until namespaces can be listed\n%v", proto, dns.RcodeToString[r.Rcode], r)
		}
	}
	if code, err := s.ReadyStatus(); err == nil && code == 200 {
		t.Errorf("ready without namespaces listed: status %d", code)
	}
}
