// Package netns runs programs in a private network and mount namespace, for
// end-to-end tests that need a real client (glibc's resolver through getent)
// talking to a real server on port 53 without touching the machine's own
// network or /etc/resolv.conf.
//
// Start runs `unshare --net --mount` on a small shell script: it brings up
// lo, adds a documentation address to it (glibc's getaddrinfo with
// AI_ADDRCONFIG asks nothing unless a non-loopback address exists),
// bind-mounts the namespace's own resolv.conf, nsswitch.conf and hosts over
// /etc (in the private mount namespace only) and then runs the relay (this
// package's init in the calling binary, see relayEnv). The namespace has no
// route anywhere: the relay connects it to the host through unix sockets,
// which cross network namespaces because the file system is shared:
//   - Outward: a TCP listener inside (e.g. 127.0.0.1:6443) whose connections
//     reach a host address (e.g. the API server), through a unix socket the
//     host side listens on;
//   - Inward: a TCP address inside (e.g. a metrics port) that the host
//     reaches with Dial or HTTPClient, through a unix socket the relay
//     listens on.
//
// Command runs programs inside with nsenter.
package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// Address and IPv6Address are added to the namespace's lo. Both are
// documentation addresses (RFC 5737, RFC 3849).
const (
	Address     = "192.0.2.1"
	IPv6Address = "2001:db8::1"
)

// Unavailable says why no namespace can be made here (not root, unshare or
// nsenter missing), or "" if Start may work.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root (euid " + strconv.Itoa(os.Geteuid()) + ")"
	}
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not found (Debian package util-linux)"
		}
	}
	return ""
}

// Options tune Start.
type Options struct {
	// ResolvConf is the namespace's /etc/resolv.conf; SetResolvConf
	// changes it later.
	ResolvConf string
	// Outward maps TCP addresses listened on inside the namespace to host
	// addresses their connections go to.
	Outward map[string]string
	// Inward are TCP addresses inside the namespace the host may reach.
	Inward []string
	// Output, if set, receives the setup script's and relay's stderr.
	Output io.Writer
}

// Namespace is a running namespace, held by the relay process.
type Namespace struct {
	dir    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
	stderr *coredns.Buffer
	out    []*cluster.Proxy
	inward map[string]string // inside TCP address -> unix socket path

	// IPv6 tells whether IPv6Address could be added (IPv6 is enabled), so
	// that AI_ADDRCONFIG lets getaddrinfo ask AAAA.
	IPv6 bool
	// Pid is the relay's, a process inside the namespaces.
	Pid int
}

// setupScript runs as root inside the new namespaces; $1 is the directory
// holding resolv.conf, nsswitch.conf and hosts; the rest is the relay's
// command line.
const setupScript = `set -eu
dir=$1; shift
ip link set lo up
ip addr add ` + Address + `/32 dev lo
if ip addr add ` + IPv6Address + `/128 dev lo 2>/dev/null; then echo ipv6; else echo noipv6; fi
mount --bind "$dir/resolv.conf" /etc/resolv.conf
if [ -e /etc/nsswitch.conf ]; then mount --bind "$dir/nsswitch.conf" /etc/nsswitch.conf; fi
if [ -e /etc/hosts ]; then mount --bind "$dir/hosts" /etc/hosts; fi
for d in /run/nscd /var/run/nscd; do
	if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d"; fi
done
exec "$@"
`

// Start makes the namespace. ctx bounds the setup only.
func Start(ctx context.Context, opts Options) (n *Namespace, err error) {
	if why := Unavailable(); why != "" {
		return nil, errors.New(why)
	}
	for _, tool := range []string{"ip", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found (Debian packages iproute2, mount): %w", tool, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubesvc-netns-")
	if err != nil {
		return nil, err
	}
	n = &Namespace{dir: dir, exited: make(chan struct{}), stderr: &coredns.Buffer{}, inward: map[string]string{}}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	files := map[string]string{
		"resolv.conf":   opts.ResolvConf,
		"nsswitch.conf": "hosts: files dns\n",
		"hosts":         "127.0.0.1 localhost\n::1 localhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return n, err
		}
	}

	relayArgs, err := n.relays(opts)
	if err != nil {
		return n, err
	}
	args := append([]string{"--net", "--mount", "--propagation", "private", "--", "sh", "-c", setupScript, "netns-setup", dir, self}, relayArgs...)
	n.cmd = exec.Command("unshare", args...)
	n.cmd.Env = append(os.Environ(), relayEnv+"=1")
	var errw io.Writer = n.stderr
	if opts.Output != nil {
		errw = io.MultiWriter(n.stderr, opts.Output)
	}
	n.cmd.Stderr = errw
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		return n, err
	}
	if n.stdin, err = n.cmd.StdinPipe(); err != nil {
		return n, err
	}
	if err := n.cmd.Start(); err != nil {
		return n, fmt.Errorf("start unshare: %w", err)
	}
	n.Pid = n.cmd.Process.Pid // unshare without --fork execs the script in place
	return n, n.awaitSetup(ctx, stdout)
}

// relays are the relay's arguments for opts' ports: each Outward port is
// a Unix socket of n's directory forwarded to its host address, each
// Inward one a socket the namespace's port is relayed to.
func (n *Namespace) relays(opts Options) ([]string, error) {
	var relayArgs []string
	i := 0
	for inside, host := range opts.Outward {
		sock := filepath.Join(n.dir, fmt.Sprintf("out%d.sock", i))
		i++
		ln, err := net.Listen("unix", sock)
		if err != nil {
			return nil, err
		}
		n.out = append(n.out, cluster.Forward(ln, func() (net.Conn, error) { return net.DialTimeout("tcp", host, 5*time.Second) }))
		relayArgs = append(relayArgs, "tcp:"+inside+"=unix:"+sock)
	}
	for j, inside := range opts.Inward {
		sock := filepath.Join(n.dir, fmt.Sprintf("in%d.sock", j))
		n.inward[inside] = sock
		relayArgs = append(relayArgs, "unix:"+sock+"=tcp:"+inside)
	}
	return relayArgs, nil
}

// awaitSetup reads the setup script's lines from stdout until it says
// ready (or ipv6 first), fails or ctx ends.
func (n *Namespace) awaitSetup(ctx context.Context, stdout io.Reader) error {
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	for {
		select {
		case l, ok := <-lines:
			switch {
			case !ok:
				<-n.exited
				return fmt.Errorf("namespace setup failed (%v): %s", n.cmd.ProcessState, strings.TrimSpace(n.stderr.String()))
			case l == "ipv6":
				n.IPv6 = true
			case l == "ready":
				go func() {
					for range lines {
					}
				}()
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("namespace setup: %w; stderr: %s", ctx.Err(), strings.TrimSpace(n.stderr.String()))
		}
	}
}

// SetResolvConf rewrites the namespace's /etc/resolv.conf in place (the bind
// mount keeps pointing at the same file).
func (n *Namespace) SetResolvConf(content string) error {
	return os.WriteFile(filepath.Join(n.dir, "resolv.conf"), []byte(content), 0o644)
}

// Dir is a private temp directory, removed by Close, where callers may put
// files programs inside read (the file system is shared).
func (n *Namespace) Dir() string { return n.dir }

// Command is name args run inside the namespace (nsenter into the relay's
// network and mount namespaces; its working directory is /, so paths must
// be absolute). nsenter execs name in place: signals to the process reach it.
// ctx kills it, as with exec.CommandContext.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(n.Pid), "--net", "--mount", "--", name}, args...)...)
}

// Dial connects to an Inward address inside the namespace.
func (n *Namespace) Dial(ctx context.Context, inside string) (net.Conn, error) {
	sock, ok := n.inward[inside]
	if !ok {
		return nil, fmt.Errorf("%s is not an inward address of the namespace", inside)
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", sock)
}

// HTTPClient reaches http://INSIDE/... for Inward addresses.
func (n *Namespace) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return n.Dial(ctx, addr)
			},
		},
	}
}

// Close ends the relay (which ends the namespace once nothing else runs in
// it), the host side of the outward sockets, and removes Dir.
func (n *Namespace) Close() error {
	var errs []error
	if n.cmd != nil && n.cmd.Process != nil {
		if n.stdin != nil {
			n.stdin.Close()
		}
		select {
		case <-n.exited:
		case <-time.After(5 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
			errs = append(errs, errors.New("relay did not exit within 5s of its stdin closing; killed"))
		}
	}
	for _, f := range n.out {
		f.Close()
	}
	errs = append(errs, os.RemoveAll(n.dir))
	return errors.Join(errs...)
}

// Stderr is what the setup script and the relay printed on stderr.
func (n *Namespace) Stderr() string { return n.stderr.String() }
