package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// Seeding straight into etcd. Through the API, ClusterIP creates slow down
// as services accumulate (about 300,000/n a second at n services: the API
// server's ClusterIP allocation), so 100,000 services would take hours. The
// etcd seeder writes the objects where and as the API server stores them
// (protobuf in the runtime.Unknown envelope behind the "k8s\x00" magic, under
// its --etcd-prefix), and the API server's watch cache, which follows etcd,
// serves them to every list and watch as if they had been created through
// it. Only the write path is skipped: ClusterIP allocation (the seeder picks
// free addresses and writes the IPAddress objects the allocator would, so
// later creates through the API never take a seeded address, and the API
// server's ClusterIP repair loop finds nothing to repair) and admission.
//
// What the API server adds to an object (defaults such as ipFamilies and
// internalTrafficPolicy, managedFields, an EndpointSlice's generation) is
// taken from templates: services of the data set created through the API,
// read back. Everything the driver's builders (svcObject, sliceObject) set
// comes from them, so seeded objects are the API-created ones but for names,
// UIDs, times and cluster IPs (bench_test.go compares them).

// etcdSeeder writes services, their EndpointSlices and their ClusterIPs'
// IPAddress objects into the API server's etcd.
type etcdSeeder struct {
	etcd   *clientv3.Client
	prefix string
	enc    runtime.Encoder
	svc    [2]*corev1.Service // templates: [0] ClusterIP, [1] headless
	slice  [2]*discoveryv1.EndpointSlice
	ip     *networkingv1.IPAddress // a ClusterIP's IPAddress
}

// etcdBatch is how many services go into one etcd transaction: up to 3
// keys each, under etcd's default --max-txn-ops of 128.
const etcdBatch = 40

// newEtcdSeeder connects to etcd and reads the templates through the API:
// cip and hl are a ClusterIP and a headless service created through it.
func newEtcdSeeder(ctx context.Context, c kubernetes.Interface, etcdURL, prefix string, cip, hl service) (*etcdSeeder, error) {
	s := &etcdSeeder{prefix: prefix, enc: protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)}
	for i, v := range []service{cip, hl} {
		var err error
		if s.svc[i], err = c.CoreV1().Services(v.ns).Get(ctx, v.name, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("template service: %w", err)
		}
		if s.slice[i], err = c.DiscoveryV1().EndpointSlices(v.ns).Get(ctx, v.sliceName(), metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("template endpointslice: %w", err)
		}
	}
	var err error
	if s.ip, err = c.NetworkingV1().IPAddresses().Get(ctx, s.svc[0].Spec.ClusterIP, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("template ipaddress: %w", err)
	}
	s.etcd, err = clientv3.New(clientv3.Config{
		Endpoints: []string{etcdURL}, DialTimeout: 10 * time.Second, Logger: zap.NewNop(), Context: ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return s, nil
}

func (s *etcdSeeder) close() { s.etcd.Close() }

// stamp makes m a new object's metadata: its own UID, created now, its
// managed fields written now, no resource version (etcd's revision is it).
func stamp(m *metav1.ObjectMeta, ns, name string, now metav1.Time) {
	m.Namespace, m.Name = ns, name
	m.UID = uuid.NewUUID()
	m.CreationTimestamp = now
	m.ResourceVersion = ""
	for i := range m.ManagedFields {
		m.ManagedFields[i].Time = &now
	}
}

func hlIndex(headless bool) int {
	if headless {
		return 1
	}
	return 0
}

// serviceFor is v as the API server stores it, with cluster IP ip (none
// for a headless one).
func (s *etcdSeeder) serviceFor(v service, ip string, now metav1.Time) *corev1.Service {
	o := s.svc[hlIndex(v.headless)].DeepCopy()
	want := svcObject(v)
	stamp(&o.ObjectMeta, v.ns, v.name, now)
	o.Labels, o.Annotations = want.Labels, want.Annotations
	o.Spec.Selector, o.Spec.Ports = want.Spec.Selector, want.Spec.Ports
	if !v.headless {
		o.Spec.ClusterIP, o.Spec.ClusterIPs = ip, []string{ip}
	}
	o.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	return o
}

// sliceFor is v's EndpointSlice as the API server stores it.
func (s *etcdSeeder) sliceFor(v service, now metav1.Time) *discoveryv1.EndpointSlice {
	o := s.slice[hlIndex(v.headless)].DeepCopy()
	want := sliceObject(v.ns, v.sliceName(), v.name, v.headless, v.eps)
	stamp(&o.ObjectMeta, v.ns, want.Name, now)
	o.Labels, o.Annotations = want.Labels, want.Annotations
	o.AddressType, o.Endpoints, o.Ports = want.AddressType, want.Endpoints, want.Ports
	o.TypeMeta = metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
	return o
}

// ipAddressFor is the IPAddress the allocator writes for v's cluster IP.
func (s *etcdSeeder) ipAddressFor(v service, ip string, now metav1.Time) *networkingv1.IPAddress {
	o := s.ip.DeepCopy()
	stamp(&o.ObjectMeta, "", ip, now)
	o.Spec.ParentRef.Namespace, o.Spec.ParentRef.Name = v.ns, v.name
	o.TypeMeta = metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "IPAddress"}
	return o
}

// puts are the etcd writes that create v (its IPAddress first, as the
// allocator writes it: a service seen without one would have the API
// server's repair loop make one; then the service, then its slice) with
// cluster IP ip.
func (s *etcdSeeder) puts(v service, ip string, now metav1.Time) (keys, vals []string, err error) {
	var objs []runtime.Object
	if !v.headless {
		objs = append(objs, s.ipAddressFor(v, ip, now))
		keys = append(keys, s.prefix+"/ipaddresses/"+ip)
	}
	objs = append(objs, s.serviceFor(v, ip, now), s.sliceFor(v, now))
	keys = append(keys, s.prefix+"/services/specs/"+v.ns+"/"+v.name, s.prefix+"/endpointslices/"+v.ns+"/"+v.sliceName())
	for _, o := range objs {
		b, err := runtime.Encode(s.enc, o)
		if err != nil {
			return nil, nil, err
		}
		vals = append(vals, string(b))
	}
	return keys, vals, nil
}

// write creates svcs (ips[i] the cluster IP of svcs[i]), each object in a
// transaction of its own that fails if its key exists already. One object a
// revision, as the API server writes them: objects that shared one would
// share a resource version, and a watch that resumes from it (the API
// server cuts slow watchers while it sends a large growth) skips the rest
// of them. The first run with 40 services a transaction lost some 200 of
// 15,000 services in kubesvc and in stock alike.
func (s *etcdSeeder) write(ctx context.Context, svcs []service, ips []string) error {
	now := metav1.Now()
	for i, v := range svcs {
		keys, vals, err := s.puts(v, ips[i], now)
		if err != nil {
			return fmt.Errorf("encode %s/%s: %w", v.ns, v.name, err)
		}
		for j, k := range keys {
			resp, err := s.etcd.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(clientv3.OpPut(k, vals[j])).Commit()
			if err != nil {
				return err
			}
			if !resp.Succeeded {
				return fmt.Errorf("etcd: %s exists already", k)
			}
		}
	}
	return nil
}

// seed writes svcs in batches, workers transactions at a time, and fills in
// the ClusterIP services' addresses from free (one each, in order).
func (s *etcdSeeder) seed(ctx context.Context, svcs []service, free []string, workers int, logf func(string, ...any)) error {
	free, err := s.stillFree(ctx, free)
	if err != nil {
		return err
	}
	ips := make([]string, len(svcs))
	for i := range svcs {
		if !svcs[i].headless {
			if len(free) == 0 {
				return errors.New("out of service addresses")
			}
			ips[i], free = free[0], free[1:]
		}
	}
	start := time.Now()
	err = inParallel(ctx, len(svcs), etcdBatch, workers, func(ctx context.Context, lo, hi int) error { return s.write(ctx, svcs[lo:hi], ips[lo:hi]) },
		func(done int) { logf("  wrote %d/%d services into etcd", done, len(svcs)) })
	if err != nil {
		return err
	}
	for i := range svcs {
		if !svcs[i].headless {
			svcs[i].ips = []string{ips[i]}
		}
	}
	logf("  wrote %d services with their EndpointSlices into etcd in %s (%.0f/s)", len(svcs), time.Since(start).Round(time.Millisecond), float64(len(svcs))/time.Since(start).Seconds())
	return nil
}

// stillFree is free without the addresses etcd holds an IPAddress of: the
// API's list of them can lag behind an allocation just made.
func (s *etcdSeeder) stillFree(ctx context.Context, free []string) ([]string, error) {
	resp, err := s.etcd.Get(ctx, s.prefix+"/ipaddresses/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd: list ipaddresses: %w", err)
	}
	taken := map[string]bool{}
	for _, kv := range resp.Kvs {
		taken[strings.TrimPrefix(string(kv.Key), s.prefix+"/ipaddresses/")] = true
	}
	return slices.DeleteFunc(slices.Clone(free), func(ip string) bool { return taken[ip] }), nil
}

// freeServiceIPs is up to n addresses of the ranges no IPAddress object
// holds (the allocator's record of what is taken), in order, leaving out
// each range's network and broadcast addresses as the allocator does.
func freeServiceIPs(ctx context.Context, c kubernetes.Interface, cidrs []string, n int) ([]string, error) {
	taken := map[string]bool{}
	err := listPages(ctx, func(opts metav1.ListOptions) (string, error) {
		l, err := c.NetworkingV1().IPAddresses().List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list ipaddresses: %w", err)
		}
		for _, ip := range l.Items {
			taken[ip.Name] = true
		}
		return l.Continue, nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, cidr := range cidrs {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, err
		}
		p = p.Masked()
		last := lastAddr(p)
		// From the second host address on: the API server gives the first
		// to the kubernetes Service, perhaps not yet when this lists.
		for a := p.Addr().Next().Next(); a.IsValid() && a != last && len(out) < n; a = a.Next() {
			if !taken[a.String()] {
				out = append(out, a.String())
			}
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("only %d free addresses in %v, %d wanted", len(out), cidrs, n)
	}
	return out, nil
}

// lastAddr is the highest address of p (its broadcast address, for IPv4).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		keep := min(max(p.Bits()-8*i, 0), 8)
		b[i] |= byte(0xff >> keep)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
