package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// bench is one run's state, shared by its phases.
type bench struct {
	c     config
	ctx   context.Context
	began time.Time
	work  string // temp dir: hosts, zone, queries, kubeconfigs, wrappers

	kube   *cluster.Cluster
	client kubernetes.Interface // admin, unthrottled, protobuf
	px     relistProxies        // in front of the API server, one for each side-by-side server
	// watchOrder is the order the API server has the side-by-side servers'
	// watches in (indexes of the pair and of px): see swapWatchOrder.
	watchOrder [2]int
	f          *fleet

	// ks, st, ce talk to the API server directly and serve no metrics: the
	// cold starts and queries/s. pks and pst watch through px (each its own) and serve
	// metrics; lks and lst are them with GOMEMLIMIT set.
	ks, st, ce, pks, pst, lks, lst *kind
	memLimit                       string // GOMEMLIMIT of lks and lst, and where it came from
	memLimitFrom                   string

	hostsPath, zonePath, queryPath string
	d                              *dataset
	big                            *bigHeadless // the 1,000-endpoint headless service
	sentinel                       *bigHeadless // a 2-endpoint headless service that ends the move phase
	res                            *results
	gb                             *gobench
}

func newBench(ctx context.Context, c config) *bench {
	return &bench{
		c: c, ctx: ctx, began: time.Now(), f: newFleet(),
		d:   &dataset{namespaces: c.namespaces, headlessFrac: c.headlessFrac, endpoints: c.endpoints},
		res: &results{idle: map[string]int64{}, qps: map[string][]float64{}, allocs: map[string]float64{}},
		gb:  &gobench{},
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Printf("[%6.1fs] %s\n", time.Since(b.began).Seconds(), fmt.Sprintf(format, args...))
}

// close stops every server, the proxy and the control plane, and removes
// the temp dir.
func (b *bench) close() {
	b.f.stopAll()
	b.px.Close()
	if b.kube != nil {
		b.logf("stopping the control plane")
		if err := b.kube.Stop(); err != nil && b.ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "bench: stop control plane:", err)
		}
	}
	if b.work != "" {
		os.RemoveAll(b.work)
	}
}

func (b *bench) gobenchPath() string {
	if b.c.gobenchOut != "" {
		return b.c.gobenchOut
	}
	return filepath.Join(b.c.root, "bin", "bench.txt")
}

// setup starts the control plane and the proxy, and defines the servers.
func (b *bench) setup() error {
	var err error
	if b.work, err = os.MkdirTemp("", "kubesvc-bench-"); err != nil {
		return err
	}
	b.logf("starting kube-apiserver and etcd from %s", os.Getenv(cluster.AssetsEnv))
	cpOut := &coredns.Buffer{}
	startCtx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	b.kube, err = cluster.Start(startCtx, cluster.Options{Output: cpOut})
	cancel()
	if err != nil {
		return fmt.Errorf("%w\ncontrol plane output:\n%s", err, tail(cpOut.String(), 30))
	}
	kubesvcKC, err := b.kube.CoreDNSKubeconfig("coredns.kubeconfig", "")
	if err != nil {
		return err
	}
	// The stock plugin also lists and watches Namespaces, which the
	// least-privilege user may not: it runs as the admin.
	stockKC, err := b.kube.AdminKubeconfig("admin.kubeconfig")
	if err != nil {
		return err
	}
	if b.client, err = fastClient(b.kube.Admin); err != nil {
		return err
	}
	var pxKC [2]string // kubesvc's, stock's
	for i, name := range []string{"kubesvc", "stock"} {
		p, err := newRelistProxy(b.kube.Admin)
		if err != nil {
			return err
		}
		b.px = append(b.px, p)
		pxKC[i] = filepath.Join(b.work, "proxy-"+name+".kubeconfig")
		if err := cluster.WriteKubeconfig(pxKC[i], p.clientConfig()); err != nil {
			return err
		}
	}
	b.hostsPath = filepath.Join(b.work, "hosts")
	b.zonePath = filepath.Join(b.work, "cluster.local.zone")
	b.queryPath = filepath.Join(b.work, "queries.txt")
	if err := os.WriteFile(b.zonePath, []byte(zoneFile), 0o644); err != nil {
		return err
	}
	bin, stockBin := coredns.Binary(b.c.root), filepath.Join(b.c.root, "bin", "coredns-stock")
	b.ks = &kind{name: "kubesvc", binary: bin, corefile: kubesvcCorefile(kubesvcKC, false)}
	b.st = &kind{name: "stock", binary: stockBin, corefile: stockCorefile(stockKC, false)}
	b.ce = &kind{name: "ceiling", binary: bin, corefile: ceilingCorefile(b.hostsPath, b.zonePath)}
	b.pks = &kind{name: "kubesvc", binary: bin, corefile: kubesvcCorefile(pxKC[0], true)}
	b.pst = &kind{name: "stock", binary: stockBin, corefile: stockCorefile(pxKC[1], true)}
	if b.memLimit, b.memLimitFrom, err = deployMemLimit(b.c.root, b.c.memLimit); err != nil {
		return err
	}
	if b.lks, err = withEnv(b.pks, b.work, "GOMEMLIMIT", b.memLimit); err != nil {
		return err
	}
	b.res.memLimit = b.memLimit + " (" + b.memLimitFrom + ")"
	b.lst, err = withEnv(b.pst, b.work, "GOMEMLIMIT", b.memLimit)
	return err
}

// seed creates the namespaces, the services with their EndpointSlices, the
// 1,000-endpoint headless service and the sentinel, and writes the
// ceiling's hosts file and dnsperf's queries.
func (b *bench) seed() error {
	if err := ensureNamespaces(b.ctx, b.client, b.c.namespaces); err != nil {
		return err
	}
	svcs := b.d.plan(b.c.services)
	b.logf("seeding %d services over %d namespaces: %d headless of %d endpoints, the others ClusterIP with 3-10 endpoints, one EndpointSlice each",
		len(svcs), b.c.namespaces, countHeadless(svcs), b.c.endpoints)
	if err := b.create(svcs); err != nil {
		return err
	}
	b.big = newBigHeadless(nsName(0), "big-headless", bigEndpoints, bigSlices, b.d)
	b.sentinel = newBigHeadless(nsName(0), "churn-sentinel", 2, 1, b.d)
	for _, h := range []*bigHeadless{b.big, b.sentinel} {
		if err := h.create(b.ctx, b.client); err != nil {
			return err
		}
	}
	if err := b.writeHosts(); err != nil {
		return err
	}
	b.res.n = len(b.d.svcs)
	lines, err := writeQueries(b.queryPath, b.d.svcs, b.c.namespaces)
	if err != nil {
		return err
	}
	b.logf("query file: %d A queries, %d of them for missing names (1 in 9)", lines, len(b.d.svcs)/8)
	return nil
}

// create creates svcs with their slices and adds them to the data set.
func (b *bench) create(svcs []service) error {
	if err := createServices(b.ctx, b.client, svcs, b.c.seedWorkers, b.logf); err != nil {
		return err
	}
	b.d.add(svcs)
	return b.writeHosts()
}

// writeHosts writes every seeded name into the ceiling's hosts file, the
// big headless service and the sentinel too (probes ask for them; dnsperf
// does not).
func (b *bench) writeHosts() error {
	all := b.d.svcs
	for _, h := range []*bigHeadless{b.big, b.sentinel} {
		if h != nil {
			all = append(all[:len(all):len(all)], h.service())
		}
	}
	return writeHosts(b.hostsPath, all)
}

// probes are the names a server must answer right before it counts as
// synced: the last ClusterIP and headless services, and the big one.
func (b *bench) probes() []expect {
	es := probes(b.d.svcs)
	if b.big != nil {
		es = append(es, b.big.expect())
	}
	return es
}

// fastClient is an admin clientset that is not throttled and speaks protobuf,
// for seeding.
func fastClient(admin *rest.Config) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = 5000, 10000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfig(cfg)
}

// growTo creates services until there are n, through the API or straight
// into etcd. Past 60,000 the API server's service range (a /16) runs out:
// the bench adds a ServiceCIDR first.
func (b *bench) growTo(n int, viaEtcd bool) error {
	cidrs := []string{cluster.ServiceCIDRv4}
	if n > 60000 {
		cidrs = append(cidrs, extraServiceCIDR)
		sc := &networkingv1.ServiceCIDR{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-extra"},
			Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{extraServiceCIDR}},
		}
		_, err := b.client.NetworkingV1().ServiceCIDRs().Create(b.ctx, sc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("add ServiceCIDR %s for more than 60,000 services: %w", extraServiceCIDR, err)
		}
	}
	svcs := b.d.plan(n - len(b.d.svcs))
	if viaEtcd {
		return b.seedEtcd(svcs, cidrs)
	}
	return b.create(svcs)
}

// extraServiceCIDR is the second service range, for runs past 60,000.
const extraServiceCIDR = "10.100.0.0/15"
