package e2e

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubesvc/kubesvc/e2e/cluster"
)

// TestLeastPrivilegeUser proves the user every CoreDNS of this suite runs as
// can list and watch Services and EndpointSlices and do nothing else, so the
// passing tests show that this is all kubesvc needs. Only the namespace_labels
// test runs kubesvc as another user, who may also list and watch Namespaces
// (namespaceReader): that option, and only it, needs them.
func TestLeastPrivilegeUser(t *testing.T) {
	suite(t)
	c, err := kubernetes.NewForConfig(kube.CoreDNS)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 30*time.Second)
	calls := []struct {
		name    string
		allowed bool
		call    func(context.Context) error
	}{
		{"list services", true, func(ctx context.Context) error {
			_, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{Limit: 1})
			return err
		}},
		{"watch services", true, func(ctx context.Context) error {
			w, err := c.CoreV1().Services("").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"list endpointslices", true, func(ctx context.Context) error {
			_, err := c.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{Limit: 1})
			return err
		}},
		{"watch endpointslices", true, func(ctx context.Context) error {
			w, err := c.DiscoveryV1().EndpointSlices("").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"get a service", false, func(ctx context.Context) error {
			_, err := c.CoreV1().Services("default").Get(ctx, "sample-clusterip", metav1.GetOptions{})
			return err
		}},
		{"delete a service", false, func(ctx context.Context) error {
			return c.CoreV1().Services("default").Delete(ctx, "sample-clusterip", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}},
		{"list endpoints", false, func(ctx context.Context) error {
			_, err := c.CoreV1().Endpoints("").List(ctx, metav1.ListOptions{Limit: 1})
			return err
		}},
		{"list namespaces", false, func(ctx context.Context) error {
			_, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
			return err
		}},
		{"list pods", false, func(ctx context.Context) error {
			_, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1})
			return err
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(ctx)
			switch {
			case tc.allowed && err != nil:
				t.Errorf("%s as %s: %v", tc.name, cluster.CoreDNSUser, err)
			case !tc.allowed && !apierrors.IsForbidden(err):
				t.Errorf("%s as %s: got %v, want Forbidden", tc.name, cluster.CoreDNSUser, err)
			}
		})
	}
}
