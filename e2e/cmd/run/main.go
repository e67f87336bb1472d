// Command run is the `make run` driver: it starts a local control plane
// (kube-apiserver + etcd through envtest, binaries from KUBEBUILDER_ASSETS,
// default <repo>/bin) seeded with testdata/cluster/*.yaml, then bin/coredns on
// 127.0.0.1:1053 with a Corefile made from the repository's Corefile.example,
// and waits for Ctrl-C. It builds nothing: build bin/coredns and the control
// plane first.
//
// With -kubeconfig PATH it starts no control plane and runs CoreDNS against
// that cluster instead (read-only: CoreDNS lists and watches).
//
// Nothing leaves the machine: forward goes to a local hosts server block
// that knows the seed documents' external names.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
)

func main() {
	// Own flag set: controller-runtime registers -kubeconfig on the global one.
	fs := flag.NewFlagSet(filepath.Base(os.Args[0]), flag.ExitOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", "run CoreDNS against this cluster instead of a local control plane")
		port       = fs.Int("port", 1053, "loopback port CoreDNS serves DNS on")
		root       = fs.String("root", "", "repository root (default: found from the working directory)")
		quiet      = fs.Bool("quiet", false, "do not echo CoreDNS's log")
	)
	_ = fs.Parse(os.Args[1:])
	if err := run(*kubeconfig, *port, *root, *quiet); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, port int, root string, quiet bool) error {
	if root == "" {
		var err error
		if root, err = coredns.FindRoot(); err != nil {
			return err
		}
	}
	bin := coredns.Binary(root)
	if err := coredns.CheckBinary(bin); err != nil {
		return fmt.Errorf("bin/coredns: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ports, err := coredns.NewPorts()
	if err != nil {
		return err
	}
	ports.DNS = port

	if kubeconfig == "" {
		kube, coreDNSKubeconfig, err := startControlPlane(ctx, root)
		if kube != nil {
			defer func() {
				fmt.Println("stopping the control plane ...")
				if err := kube.Stop(); err != nil {
					fmt.Fprintln(os.Stderr, "run: stop control plane:", err)
				}
			}()
		}
		if err != nil {
			return err
		}
		kubeconfig = coreDNSKubeconfig
	} else if kubeconfig, err = filepath.Abs(kubeconfig); err != nil {
		return err
	}

	corefile, note := makeCorefile(root, ports, kubeconfig)
	fmt.Println(note)
	var echo *prefixWriter
	opts := coredns.Options{}
	if !quiet {
		echo = &prefixWriter{prefix: "coredns| "}
		opts.Echo = echo
	}
	srv, err := coredns.Start(bin, corefile, ports, opts)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping coredns ...")
		if err := srv.Stop(15 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
		}
	}()
	readyCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = srv.WaitReady(readyCtx)
	cancel()
	if err != nil {
		if quiet {
			fmt.Fprintln(os.Stderr, srv.Log())
		}
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	printTry(port, srv.Conf, ports)

	select {
	case <-ctx.Done():
		fmt.Println("\ninterrupted")
		return nil
	case <-srv.Exited():
		return fmt.Errorf("coredns exited: %v", srv.ExitErr())
	}
}

// printTry says where CoreDNS serves and what to ask it.
func printTry(port int, conf string, ports coredns.Ports) {
	fmt.Printf(`
CoreDNS (kubesvc) is ready on 127.0.0.1:%[1]d (Corefile: %[2]s). Try:

  dig @127.0.0.1 -p %[1]d sample-clusterip.default.svc.cluster.local
  dig @127.0.0.1 -p %[1]d SRV _http-port._tcp.sample-clusterip.default.svc.cluster.local
  dig @127.0.0.1 -p %[1]d sample-headless.default.svc.cluster.local
  dig @127.0.0.1 -p %[1]d SRV _http-port._tcp.sample-headless.default.svc.cluster.local
  dig @127.0.0.1 -p %[1]d my-blog.test.svc.cluster.local
  dig @127.0.0.1 -p %[1]d AAAA sample-dualstack.default.svc.cluster.local
  dig @127.0.0.1 -p %[1]d -x 10.96.246.109
  dig @127.0.0.1 -p %[1]d +tcp TXT dns-version.cluster.local

ready: %[3]s   health: %[4]s   metrics: http://127.0.0.1:%[5]d/metrics
Ctrl-C stops everything.

`, port, conf, ports.ReadyURL(), ports.HealthURL(), ports.Metrics)
}

// startControlPlane starts kube-apiserver and etcd from bin/ (or
// $KUBEBUILDER_ASSETS), seeds them from testdata/cluster, and returns the
// kubeconfig of CoreDNS's list/watch-only user. A control plane that
// started is returned even with an error, for the caller to stop.
func startControlPlane(ctx context.Context, root string) (*cluster.Cluster, string, error) {
	if os.Getenv(cluster.AssetsEnv) == "" {
		os.Setenv(cluster.AssetsEnv, filepath.Join(root, "bin"))
	}
	if err := cluster.CheckAssets(); err != nil {
		return nil, "", fmt.Errorf("%w\n(or pass -kubeconfig PATH to use an existing cluster)", err)
	}
	fmt.Println("starting kube-apiserver and etcd from", os.Getenv(cluster.AssetsEnv), "...")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	cpOut := &coredns.Buffer{}
	kube, err := cluster.Start(startCtx, cluster.Options{Output: cpOut})
	cancel()
	if err != nil {
		return nil, "", fmt.Errorf("%w\ncontrol plane output:\n%s", err, cpOut)
	}
	seed := filepath.Join(root, "testdata", "cluster", "*.yaml")
	if err := kube.ApplyFiles(ctx, seed); err != nil {
		return kube, "", fmt.Errorf("seed: %w", err)
	}
	kubeconfig, err := kube.CoreDNSKubeconfig("coredns.kubeconfig", "")
	if err != nil {
		return kube, "", err
	}
	admin, err := kube.AdminKubeconfig("admin.kubeconfig")
	if err != nil {
		return kube, "", err
	}
	fmt.Printf("control plane up, seeded from testdata/cluster; admin kubeconfig: %s\n", admin)
	fmt.Printf("CoreDNS uses the list/watch-only user %q: %s\n", cluster.CoreDNSUser, kubeconfig)
	return kube, kubeconfig, nil
}

// makeCorefile turns Corefile.example into a local Corefile, or falls back
// to the built-in kubeadm-style template. note says which.
func makeCorefile(root string, ports coredns.Ports, kubeconfig string) (corefile, note string) {
	example := filepath.Join(root, "Corefile.example")
	data, err := os.ReadFile(example)
	if err == nil {
		var c string
		if c, err = coredns.FromExample(string(data), ports, kubeconfig); err == nil {
			return c, "Corefile: Corefile.example with port " + fmt.Sprint(ports.DNS) + ", the kubeconfig, and forward to a local hosts block"
		}
	}
	return coredns.KubeadmCorefile(ports, kubeconfig),
		fmt.Sprintf("Corefile: built-in kubeadm-style template (Corefile.example not usable: %v)", err)
}

// findRoot walks up from the working directory to the directory whose go.mod
// is the plugin's module.

// prefixWriter writes to stdout, prefixing every line.
type prefixWriter struct {
	prefix string
	mid    bool
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	var b bytes.Buffer
	for _, c := range p {
		if !w.mid {
			b.WriteString(w.prefix)
			w.mid = true
		}
		b.WriteByte(c)
		if c == '\n' {
			w.mid = false
		}
	}
	_, err := os.Stdout.Write(b.Bytes())
	return len(p), err
}
