package coredns

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Host is one name the upstream hosts block knows.
type Host struct{ IP, Name string }

// KubesvcBlock is one server block running kubesvc for the autopath tests.
type KubesvcBlock struct {
	// Listen is the block's host:port; the block binds to that host only.
	Listen string
	// Autopath turns the kubesvc option on; ResolvConf is its argument
	// (none if empty).
	Autopath   bool
	ResolvConf string
	// Log, if set, adds the log plugin with this format (see LogFormat).
	Log string
	// Cache puts "cache 30" in the block, as Corefile.example has it.
	Cache bool
}

// AutopathCorefile describes a Corefile with one or more kubesvc server
// blocks (e.g. autopath on and off side by side in one process) and the local
// upstream hosts block, every listener on a given loopback address.
type AutopathCorefile struct {
	Kubeconfig string
	Blocks     []KubesvcBlock
	// Health (first block only), Ready and Metrics (every block, one
	// listener each) are host:port.
	Health, Ready, Metrics string
	// Upstream is the host:port of the block standing in for the upstream
	// resolvers, kubesvc's forward target. It serves UpstreamZone, a root
	// zone file (see UpstreamZone) if set; otherwise it is a hosts block
	// knowing UpstreamHosts and ExtraHosts, which answers SERVFAIL, not
	// NXDOMAIN, for names it does not know.
	Upstream     string
	UpstreamZone string
	ExtraHosts   []Host
	// Forward, if set, is the blocks' forward target instead of Upstream,
	// and no upstream block is written.
	Forward string
}

// NodeLocalCorefile is a caching forwarder standing for NodeLocal DNSCache:
// "cache 30" and "forward" to the cluster DNS at target, so that every
// client reaches target from one address.
func NodeLocalCorefile(p Ports, target string) string {
	return fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n    errors\n    ready 127.0.0.1:%d\n    cache 30\n    forward . %s\n}\n", p.DNS, p.Ready, target)
}

// UpstreamZone is a root zone file for the upstream block: UpstreamHosts and
// extra as A records. Unlike a hosts block, it answers NXDOMAIN (with its
// SOA) for names that do not exist, as real upstream resolvers do.
func UpstreamZone(extra ...Host) string {
	var b strings.Builder
	b.WriteString("$ORIGIN .\n")
	b.WriteString(".\t3600\tIN\tSOA\tns.upstream.test. hostmaster.upstream.test. 1 7200 1800 86400 30\n")
	b.WriteString(".\t3600\tIN\tNS\tns.upstream.test.\n")
	hosts := make([]Host, 0, len(UpstreamHosts)+len(extra))
	for _, h := range UpstreamHosts {
		hosts = append(hosts, Host(h))
	}
	for _, h := range append(hosts, extra...) {
		typ := "A"
		if strings.Contains(h.IP, ":") {
			typ = "AAAA"
		}
		fmt.Fprintf(&b, "%s\t3600\tIN\t%s\t%s\n", dns.Fqdn(h.Name), typ, h.IP)
	}
	return b.String()
}

// LogFormat is a log plugin format that ParseLogLine reads back: one line
// per query the block's chain handled, client queries and the lookups
// plugins make through the chain alike.
const LogFormat = `kubesvc-q {remote} {port} {>id} {proto} {type} {name} {rcode} {local}`

// LogLine is one line of LogFormat.
type LogLine struct {
	Remote, Port, ID, Proto, Type, Name, Rcode, Local string
}

// Key identifies the client query a line belongs to: lookups made for a
// query through the chain again carry the client's address and message id.
func (l LogLine) Key() string { return l.Proto + " " + l.Remote + " " + l.Port + " " + l.ID }

// ParseLogLine reads a LogFormat line out of CoreDNS's output.
func ParseLogLine(line string) (LogLine, bool) {
	i := strings.Index(line, "kubesvc-q ")
	if i < 0 {
		return LogLine{}, false
	}
	f := strings.Fields(line[i:])
	if len(f) != 9 {
		return LogLine{}, false
	}
	return LogLine{Remote: f[1], Port: f[2], ID: f[3], Proto: f[4], Type: f[5], Name: f[6], Rcode: f[7], Local: f[8]}, true
}

func (c AutopathCorefile) String() string {
	var b strings.Builder
	for i, blk := range c.Blocks {
		host, port := splitHostPort(blk.Listen)
		fmt.Fprintf(&b, ".:%s {\n    bind %s\n    errors\n", port, host)
		if i == 0 && c.Health != "" {
			fmt.Fprintf(&b, "    health %s\n", c.Health)
		}
		if c.Ready != "" {
			fmt.Fprintf(&b, "    ready %s\n", c.Ready)
		}
		if c.Metrics != "" {
			fmt.Fprintf(&b, "    prometheus %s\n", c.Metrics)
		}
		if blk.Log != "" {
			fmt.Fprintf(&b, "    log . %q\n", blk.Log)
		}
		fmt.Fprintf(&b, "    kubesvc cluster.local in-addr.arpa ip6.arpa {\n        kubeconfig %s\n        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 30\n", c.Kubeconfig)
		if blk.Autopath {
			b.WriteString(strings.TrimRight("        autopath "+blk.ResolvConf, " ") + "\n")
		}
		forward := c.Upstream
		if c.Forward != "" {
			forward = c.Forward
		}
		fmt.Fprintf(&b, "    }\n    forward . %s\n", forward)
		if blk.Cache {
			b.WriteString("    cache 30\n")
		}
		b.WriteString("    loadbalance\n}\n")
	}
	if c.Forward != "" {
		return b.String()
	}
	host, port := splitHostPort(c.Upstream)
	if c.UpstreamZone != "" {
		fmt.Fprintf(&b, ".:%s {\n    bind %s\n    file %s .\n}\n", port, host, c.UpstreamZone)
		return b.String()
	}
	fmt.Fprintf(&b, ".:%s {\n    bind %s\n    hosts {\n", port, host)
	for _, h := range UpstreamHosts {
		fmt.Fprintf(&b, "        %s %s\n", h.IP, h.Name)
	}
	for _, h := range c.ExtraHosts {
		fmt.Fprintf(&b, "        %s %s\n", h.IP, h.Name)
	}
	b.WriteString("    }\n}\n")
	return b.String()
}

func splitHostPort(hp string) (string, string) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "127.0.0.1", hp
	}
	return host, port
}

// Loopback is host:port on 127.0.0.1.
func Loopback(port int) string { return hostPort(port) }

// MetricsURL is the prometheus plugin's URL.
func (p Ports) MetricsURL() string { return "http://" + hostPort(p.Metrics) + "/metrics" }

// Metrics are the samples of a prometheus text exposition, keyed by the
// series as printed (name{labels}).
type Metrics map[string]float64

// Sum adds up the samples of metric name whose labels contain every one of
// labels (each as printed, e.g. `server="dns://127.0.0.1:53"`).
func (m Metrics) Sum(name string, labels ...string) float64 {
	var sum float64
	for series, v := range m {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(series, l)
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// Scrape reads url's prometheus text exposition with client (nil: a client
// with a 1 s timeout).
func Scrape(client *http.Client, url string) (Metrics, error) {
	if client == nil {
		client = httpClient
	}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	m := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] += v
	}
	return m, sc.Err()
}
