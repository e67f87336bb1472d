// Package cluster runs a real kube-apiserver and etcd with controller-runtime's
// envtest for the end-to-end tests and the `make run` driver: a dual-stack
// service range, a least-privilege user for CoreDNS (list and watch on
// Services and EndpointSlices, nothing else), manifests applied through the
// API, and TCP proxies in front of the API server to simulate outages.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Service network of the test cluster: dual-stack.
const (
	ServiceCIDRv4 = "10.96.0.0/16"
	ServiceCIDRv6 = "fd00:10:96::/112"
)

// CoreDNSUser is the name the CoreDNS client certificate carries, and
// CoreDNSRole the ClusterRole (and binding) granting it list and watch on
// services and endpointslices only.
const (
	CoreDNSUser = "kubesvc-coredns"
	CoreDNSRole = "kubesvc-coredns"
)

// EtcdPrefix is the API server's --etcd-prefix: every object it stores
// lives under it (services under EtcdPrefix+"/services/specs/<ns>/<name>").
// Set explicitly so that a client writing straight into etcd (the bench's
// large seeding) need not guess the API server's default.
const EtcdPrefix = "/registry"

// AssetsEnv is the variable envtest reads to find kube-apiserver and etcd.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// CheckAssets reports why the control plane cannot start, or nil: the
// KUBEBUILDER_ASSETS directory must hold executable kube-apiserver and etcd.
func CheckAssets() error {
	dir := os.Getenv(AssetsEnv)
	if dir == "" {
		return fmt.Errorf("%s is not set: it must name a directory holding kube-apiserver and etcd (build them with hack/build-controlplane.sh)", AssetsEnv)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		p := filepath.Join(dir, bin)
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s=%s: %w (build it with hack/build-controlplane.sh)", AssetsEnv, dir, err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file", p)
		}
	}
	return nil
}

// Cluster is a running control plane.
type Cluster struct {
	env *envtest.Environment
	dir string // temp dir for kubeconfigs, removed by Stop

	// Admin is the cluster-admin REST config and Client its clientset.
	Admin  *rest.Config
	Client kubernetes.Interface

	// CoreDNS is the least-privilege user's REST config, pointing straight at
	// the API server. Use CoreDNSKubeconfig to get a file for a proxy.
	CoreDNS *rest.Config
}

// Options tune Start.
type Options struct {
	// Output, if set, receives the API server's and etcd's output.
	Output io.Writer
	// CRDs are CustomResourceDefinition files installed (established)
	// before Start returns: the Gateway API's, the ServiceImport's.
	CRDs []string
}

// Start starts etcd and kube-apiserver (binaries from KUBEBUILDER_ASSETS),
// creates the CoreDNS user and its RBAC, and returns once the API answers.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := CheckAssets(); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    os.Getenv(AssetsEnv),
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
		CRDInstallOptions:        envtest.CRDInstallOptions{Paths: opts.CRDs, ErrorIfPathMissing: true},
	}
	api := env.ControlPlane.GetAPIServer()
	args := api.Configure()
	args.Set("service-cluster-ip-range", ServiceCIDRv4+","+ServiceCIDRv6)
	args.Set("advertise-address", "127.0.0.1")
	args.Set("endpoint-reconciler-type", "none")
	args.Set("etcd-prefix", EtcdPrefix)
	if opts.Output != nil {
		api.Out, api.Err = opts.Output, opts.Output
		env.ControlPlane.Etcd = &envtest.Etcd{Out: opts.Output, Err: opts.Output}
	}

	admin, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	c := &Cluster{env: env, Admin: admin}
	fail := func(err error) (*Cluster, error) {
		c.Stop()
		return nil, err
	}
	if c.dir, err = os.MkdirTemp("", "kubesvc-e2e-"); err != nil {
		return fail(err)
	}
	if c.Client, err = kubernetes.NewForConfig(admin); err != nil {
		return fail(err)
	}
	user, err := env.AddUser(envtest.User{Name: CoreDNSUser}, &rest.Config{QPS: 100, Burst: 200})
	if err != nil {
		return fail(fmt.Errorf("add user %s: %w", CoreDNSUser, err))
	}
	c.CoreDNS = user.Config()
	if err := c.grantCoreDNS(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// grantCoreDNS creates the ClusterRole and ClusterRoleBinding that give the
// CoreDNS user list and watch on services and endpointslices, and nothing more.
func (c *Cluster) grantCoreDNS(ctx context.Context) error {
	role := &rbacv1.ClusterRole{
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}
	role.Name = CoreDNSRole
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, createOpts); err != nil {
		return fmt.Errorf("create ClusterRole %s: %w", CoreDNSRole, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: CoreDNSRole},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: CoreDNSUser}},
	}
	binding.Name = CoreDNSRole
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, createOpts); err != nil {
		return fmt.Errorf("create ClusterRoleBinding %s: %w", CoreDNSRole, err)
	}
	return nil
}

// AddUser creates a user with a client certificate the API server trusts,
// and no RBAC at all: every request it makes is Forbidden until bound.
func (c *Cluster) AddUser(name string) (*rest.Config, error) {
	u, err := c.env.AddUser(envtest.User{Name: name}, &rest.Config{QPS: 100, Burst: 200})
	if err != nil {
		return nil, fmt.Errorf("add user %s: %w", name, err)
	}
	return u.Config(), nil
}

// APIServerAddr is the API server's host:port, the target of proxies.
func (c *Cluster) APIServerAddr() (string, error) {
	u, err := url.Parse(c.Admin.Host)
	if err != nil {
		return "", err
	}
	return u.Host, nil
}

// EtcdURL is the client URL of the cluster's etcd, for writing objects
// straight into the API server's storage (see EtcdPrefix).
func (c *Cluster) EtcdURL() string {
	return c.env.ControlPlane.Etcd.URL.String()
}

// NewProxy starts a proxy in front of the API server.
func (c *Cluster) NewProxy() (*Proxy, error) {
	addr, err := c.APIServerAddr()
	if err != nil {
		return nil, err
	}
	return NewProxy(addr)
}

// CoreDNSKubeconfig writes a kubeconfig for the least-privilege CoreDNS user
// whose server is server (e.g. a proxy's URL; empty: the API server itself)
// into the cluster's temp dir under name, and returns its path.
func (c *Cluster) CoreDNSKubeconfig(name, server string) (string, error) {
	if server == "" {
		server = c.CoreDNS.Host
	}
	cfg := rest.CopyConfig(c.CoreDNS)
	cfg.Host = server
	path := filepath.Join(c.dir, name)
	return path, WriteKubeconfig(path, cfg)
}

// AdminKubeconfig writes the admin's kubeconfig (for kubectl) and returns its path.
func (c *Cluster) AdminKubeconfig(name string) (string, error) {
	path := filepath.Join(c.dir, name)
	return path, WriteKubeconfig(path, c.Admin)
}

// WriteKubeconfig writes cfg (host, CA, client certificate) as a kubeconfig
// file readable only by its owner.
func WriteKubeconfig(path string, cfg *rest.Config) error {
	const name = "kubesvc-e2e"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// Stop stops the API server and etcd and removes the temp files. Safe to call
// on a partly started cluster.
func (c *Cluster) Stop() error {
	var errs []error
	if c.env != nil {
		errs = append(errs, c.env.Stop())
	}
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}
