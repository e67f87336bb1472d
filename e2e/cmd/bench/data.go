package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const zone = "cluster.local"

// service is one seeded Service and the A records its name must answer.
type service struct {
	ns, name string
	headless bool
	ips      []string // sorted: the cluster IP, or the headless endpoints
	eps      []string // the addresses of its EndpointSlice's endpoints (pods)
}

func (s service) fqdn() string { return s.name + "." + s.ns + ".svc." + zone + "." }

func (s service) sliceName() string { return s.name + "-1" }

// dataset is every Service seeded so far, in creation order. Service i lives
// in namespace i mod namespaces; it is headless when the running count of
// headless services (i+1)*headlessFrac steps up, which spreads them evenly.
// Every service has one EndpointSlice, as the EndpointSlice controller would
// write it: endpoints headless ones, 3 to 10 (by i) ClusterIP ones.
type dataset struct {
	namespaces   int
	headlessFrac float64
	endpoints    int // per headless service
	svcs         []service
	nHeadless    int
	pods         int // pod addresses handed out so far
}

// podIP is the x-th pod address, in 10.128.0.0/10 (room for 4M), never a
// .0 or .255.
func podIP(x int) string {
	x = x/254*256 + x%254 + 1
	return fmt.Sprintf("10.%d.%d.%d", 128+(x>>16)&63, (x>>8)&255, x&255)
}

// newPod hands out the next pod address.
func (d *dataset) newPod() string {
	d.pods++
	return podIP(d.pods)
}

func nsName(i int) string { return fmt.Sprintf("bench-%02d", i) }

// plan returns the next n services (not yet created; cluster IPs unknown)
// and hands out their pod addresses.
func (d *dataset) plan(n int) []service {
	out := make([]service, 0, n)
	for k := range n {
		i := len(d.svcs) + k
		s := service{ns: nsName(i % d.namespaces)}
		eps := 3 + i%8
		if int(float64(i+1)*d.headlessFrac) > int(float64(i)*d.headlessFrac) {
			s.headless = true
			s.name = fmt.Sprintf("hl-%05d", i)
			eps = d.endpoints
		} else {
			s.name = fmt.Sprintf("svc-%05d", i)
		}
		for range eps {
			s.eps = append(s.eps, d.newPod())
		}
		if s.headless {
			s.ips = slices.Clone(s.eps)
			sort.Strings(s.ips)
		}
		out = append(out, s)
	}
	return out
}

// countHeadless is how many of svcs are headless.
func countHeadless(svcs []service) int {
	n := 0
	for _, s := range svcs {
		if s.headless {
			n++
		}
	}
	return n
}

// add records created services.
func (d *dataset) add(svcs []service) {
	d.nHeadless += countHeadless(svcs)
	d.svcs = append(d.svcs, svcs...)
}

// probes are the names a server must answer right before it counts as
// synced: the last ClusterIP and the last headless service created.
func probes(svcs []service) []expect {
	var out []expect
	var seenCIP, seenHL bool
	for i := len(svcs) - 1; i >= 0 && !(seenCIP && seenHL); i-- {
		s := svcs[i]
		if (s.headless && seenHL) || (!s.headless && seenCIP) {
			continue
		}
		seenHL = seenHL || s.headless
		seenCIP = seenCIP || !s.headless
		out = append(out, expectA(s.fqdn(), s.ips))
	}
	return out
}

func ensureNamespaces(ctx context.Context, c kubernetes.Interface, n int) error {
	for i := range n {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}}
		_, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

func svcObject(s service) *corev1.Service {
	o := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{"app": s.name},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080),
			}},
		},
	}
	if s.headless {
		o.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return o
}

// sliceObject is an EndpointSlice of svc as the EndpointSlice controller
// writes one: its labels (headless ones marked so), every endpoint ready with
// the pod it targets and the node that runs it.
func sliceObject(ns, name, svc string, headless bool, ips []string) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc,
				discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{
			Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP),
		}},
	}
	if headless {
		sl.Labels[corev1.IsHeadlessService] = ""
	}
	for j, ip := range ips {
		pod := fmt.Sprintf("%s-%d", svc, j)
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{ip},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false),
			},
			NodeName: ptr.To(fmt.Sprintf("node-%03d", len(ip)*7%100+j%3)),
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: ns, Name: pod,
				UID: types.UID(fmt.Sprintf("%08x-0000-4000-8000-%012x", len(pod), ipKey(ip))),
			},
		})
	}
	return sl
}

// ipKey is an IPv4 address as a number, for made-up UIDs.
func ipKey(ip string) uint32 {
	var a, b, c, d uint32
	fmt.Sscanf(ip, "%d.%d.%d.%d", &a, &b, &c, &d)
	return a<<24 | b<<16 | c<<8 | d
}

// retry runs f up to 4 times, backing off, unless ctx ends.
func retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := range 4 {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return err
}

// createServices creates svcs and each one's EndpointSlice with workers in parallel, filling in the cluster IPs the API server
// allocates.
func createServices(ctx context.Context, c kubernetes.Interface, svcs []service, workers int, logf func(string, ...any)) error {
	start := time.Now()
	err := inParallel(ctx, len(svcs), 1, workers, func(ctx context.Context, lo, _ int) error { return createOne(ctx, c, &svcs[lo]) },
		func(done int) {
			logf("  created %d/%d services (%.0f/s)", done, len(svcs), float64(done)/time.Since(start).Seconds())
		})
	if err != nil {
		return err
	}
	logf("  created %d services in %s (%.0f/s)", len(svcs), time.Since(start).Round(time.Millisecond), float64(len(svcs))/time.Since(start).Seconds())
	return nil
}

// inParallel calls do for [lo, hi) batches of n items, batch at a time,
// workers at once, until all are done or one fails (its error is
// returned; the others' contexts are cancelled); progress hears of the
// items done every 10 s.
func inParallel(ctx context.Context, n, batch, workers int, do func(ctx context.Context, lo, hi int) error, progress func(done int)) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var done atomic.Int64
	lastLog := time.Now()
	for lo := 0; lo < n && ctx.Err() == nil; lo += batch {
		hi := min(lo+batch, n)
		g.Go(func() error {
			if err := do(ctx, lo, hi); err != nil {
				return err
			}
			done.Add(int64(hi - lo))
			return nil
		})
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			progress(int(done.Load()))
		}
	}
	return g.Wait()
}

func createOne(ctx context.Context, c kubernetes.Interface, s *service) error {
	err := retry(ctx, func() error {
		got, err := c.CoreV1().Services(s.ns).Create(ctx, svcObject(*s), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // an earlier try went through
			got, err = c.CoreV1().Services(s.ns).Get(ctx, s.name, metav1.GetOptions{})
		}
		if err != nil {
			return err
		}
		if !s.headless {
			s.ips = []string{got.Spec.ClusterIP}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create service %s/%s: %w", s.ns, s.name, err)
	}
	err = retry(ctx, func() error {
		_, err := c.DiscoveryV1().EndpointSlices(s.ns).Create(ctx, sliceObject(s.ns, s.sliceName(), s.name, s.headless, s.eps), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create endpointslice %s/%s: %w", s.ns, s.sliceName(), err)
	}
	return nil
}

// writeHosts writes the ceiling's hosts file: every name with every address
// it must answer.
func writeHosts(path string, svcs []service) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, s := range svcs {
		name := strings.TrimSuffix(s.fqdn(), ".")
		for _, ip := range s.ips {
			fmt.Fprintf(w, "%s %s\n", ip, name)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// zoneFile is the ceiling's zone: the apex only, so that the file plugin
// answers every name the hosts file lacks with NXDOMAIN and the SOA, as the
// Kubernetes plugins do.
const zoneFile = `$ORIGIN cluster.local.
@ 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30
@ 30 IN NS ns.dns.cluster.local.
`

// writeQueries writes dnsperf's input: an A query for every seeded name and
// one missing name per eight existing ones (one query in nine is for a name
// that does not exist), shuffled with a fixed seed. It returns the number of
// lines.
func writeQueries(path string, svcs []service, namespaces int) (int, error) {
	var lines []string
	for _, s := range svcs {
		lines = append(lines, s.fqdn()+" A")
	}
	missing := len(svcs) / 8
	for i := range missing {
		lines = append(lines, fmt.Sprintf("nope-%05d.%s.svc.%s. A", i, nsName(i%namespaces), zone))
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	return len(lines), os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
