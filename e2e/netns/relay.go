package netns

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
)

// relayEnv, set to "1" in a process's environment, turns any binary that
// imports this package (the e2e test binary) into the relay: its init runs
// relayMain instead of the program. Start runs it that way inside the
// namespace, so no helper binary has to be built or installed.
const relayEnv = "KUBESVC_NETNS_RELAY"

func init() {
	if os.Getenv(relayEnv) == "1" {
		os.Exit(relayMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

// relayMain serves every "LISTEN=TARGET" argument, each side "tcp:HOST:PORT"
// or "unix:PATH": it listens on LISTEN and pipes each connection to a new
// connection to TARGET. It prints "ready" once every listener is up, and
// returns when stdin ends (its parent closed the pipe or died).
func relayMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var fwds []*cluster.Proxy
	defer func() {
		for _, f := range fwds {
			f.Close()
		}
	}()
	for _, a := range args {
		l, t, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "relay: %q is not LISTEN=TARGET\n", a)
			return 2
		}
		ln, err := listen(l)
		if err != nil {
			fmt.Fprintf(stderr, "relay: %v\n", err)
			return 1
		}
		target := t
		fwds = append(fwds, cluster.Forward(ln, func() (net.Conn, error) { return dial(target) }))
	}
	fmt.Fprintln(stdout, "ready")
	_, _ = io.Copy(io.Discard, bufio.NewReader(stdin))
	return 0
}

// splitEndpoint splits "tcp:ADDR" or "unix:PATH".
func splitEndpoint(ep string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(ep, ":")
	if !ok || (network != "tcp" && network != "unix") || addr == "" {
		return "", "", fmt.Errorf("endpoint %q: want tcp:HOST:PORT or unix:PATH", ep)
	}
	return network, addr, nil
}

func listen(ep string) (net.Listener, error) {
	network, addr, err := splitEndpoint(ep)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		_ = os.Remove(addr)
	}
	return net.Listen(network, addr)
}

func dial(ep string) (net.Conn, error) {
	network, addr, err := splitEndpoint(ep)
	if err != nil {
		return nil, err
	}
	return net.DialTimeout(network, addr, 5*time.Second)
}
