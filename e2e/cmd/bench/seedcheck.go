package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// etcdSeedFrom is the growth (in services) from which -seed auto writes
// into etcd rather than through the API: 10,000 take about 3 minutes
// through the API at 5,000 to 15,000 services, and ever longer past that.
// The 9,900 from the default growth's 10,100 to 20,000 go into etcd.
const etcdSeedFrom = 5000

// viaEtcd reports whether growing by add services for -first-answer-services
// writes into etcd.
func (c config) viaEtcd(add int) bool {
	switch c.seed {
	case "etcd":
		return true
	case "api":
		return false
	}
	return add >= etcdSeedFrom
}

// seedEtcd writes svcs straight into etcd, checks that the API server lists
// them, and adds them to the data set. Templates are the last ClusterIP and
// headless services seeded through the API.
func (b *bench) seedEtcd(svcs []service, cidrs []string) error {
	cip, hl := b.lastSeeded(false), b.lastSeeded(true)
	if cip == nil || hl == nil {
		return fmt.Errorf("etcd seeding needs a ClusterIP and a headless service created through the API first")
	}
	s, err := newEtcdSeeder(b.ctx, b.client, b.kube.EtcdURL(), cluster.EtcdPrefix, *cip, *hl)
	if err != nil {
		return err
	}
	defer s.close()
	free, err := freeServiceIPs(b.ctx, b.client, cidrs, len(svcs)-countHeadless(svcs)+64) // spares: see stillFree
	if err != nil {
		return err
	}
	b.logf("  writing %d services (%d headless) straight into etcd, %d workers of %d services, an object a transaction", len(svcs), countHeadless(svcs), b.c.seedWorkers, etcdBatch)
	if err := s.seed(b.ctx, svcs, free, b.c.seedWorkers, b.logf); err != nil {
		return err
	}
	n, err := checkListed(b.ctx, b.client, svcs)
	if err != nil {
		return err
	}
	b.logf("  the API server lists all %d of them with their EndpointSlices (%d services in all)", len(svcs), n)
	b.d.add(svcs)
	return b.writeHosts()
}

// lastSeeded is the last service of the data set that is (or is not)
// headless, nil if none.
func (b *bench) lastSeeded(headless bool) *service {
	for i := len(b.d.svcs) - 1; i >= 0; i-- {
		if b.d.svcs[i].headless == headless {
			return &b.d.svcs[i]
		}
	}
	return nil
}

// checkListed lists every Service and EndpointSlice through the API (as
// kubectl get -A does, in pages) and checks that each of svcs is there with
// its cluster IP and its slice with its endpoints. It returns the number of
// services listed.
func checkListed(ctx context.Context, c kubernetes.Interface, svcs []service) (int, error) {
	ips := map[string][]string{}
	eps := map[string][]string{}
	err := listPages(ctx, func(opts metav1.ListOptions) (string, error) {
		l, err := c.CoreV1().Services("").List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list services: %w", err)
		}
		for _, o := range l.Items {
			ips[o.Namespace+"/"+o.Name] = o.Spec.ClusterIPs
		}
		return l.Continue, nil
	})
	if err != nil {
		return 0, err
	}
	err = listPages(ctx, func(opts metav1.ListOptions) (string, error) {
		l, err := c.DiscoveryV1().EndpointSlices("").List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list endpointslices: %w", err)
		}
		for _, o := range l.Items {
			for _, e := range o.Endpoints {
				eps[o.Namespace+"/"+o.Name] = append(eps[o.Namespace+"/"+o.Name], e.Addresses...)
			}
		}
		return l.Continue, nil
	})
	if err != nil {
		return 0, err
	}
	for _, s := range svcs {
		got, ok := ips[s.ns+"/"+s.name]
		switch {
		case !ok:
			return 0, fmt.Errorf("service %s/%s written into etcd is not listed by the API server", s.ns, s.name)
		case !s.headless && !slices.Equal(got, s.ips):
			return 0, fmt.Errorf("service %s/%s: the API server lists cluster IPs %v, %v written", s.ns, s.name, got, s.ips)
		case !slices.Equal(eps[s.ns+"/"+s.sliceName()], s.eps):
			return 0, fmt.Errorf("endpointslice %s/%s: the API server lists endpoints %v, %v written", s.ns, s.sliceName(), eps[s.ns+"/"+s.sliceName()], s.eps)
		}
	}
	return len(ips), nil
}

// listPages calls page with a limit and each continue token it returns
// until it returns none. A page the API server cannot serve yet is asked
// again, for up to 5 minutes: right after a burst of writes straight into
// etcd its watch cache lags behind etcd, and a page continuing a list taken
// at etcd's newer revision gets "Too large resource version" until the
// cache catches up.
func listPages(ctx context.Context, page func(metav1.ListOptions) (string, error)) error {
	opts := metav1.ListOptions{Limit: 10000}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		cont, err := page(opts)
		switch {
		case err != nil && (apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err)) && time.Now().Before(deadline):
			if err := sleep(ctx, 2*time.Second); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		case cont == "":
			return nil
		}
		opts.Continue = cont
	}
}
