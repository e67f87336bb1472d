package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// perfOpts are dnsperf's load settings.
type perfOpts struct {
	clients, threads, outstanding int
}

func (o perfOpts) args(port int, file string, d time.Duration) []string {
	return []string{
		"-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", file,
		"-l", strconv.FormatFloat(d.Seconds(), 'f', 3, 64),
		"-c", strconv.Itoa(o.clients), "-T", strconv.Itoa(o.threads), "-q", strconv.Itoa(o.outstanding),
	}
}

func (o perfOpts) String() string {
	return fmt.Sprintf("dnsperf -s 127.0.0.1 -p PORT -d QUERYFILE -l SECONDS -c %d -T %d -q %d (UDP, no QPS limit)", o.clients, o.threads, o.outstanding)
}

// perfResult is what one dnsperf run reports.
type perfResult struct {
	qps             float64
	sent, completed int
	lost            int
	rcodes          map[string]int // NOERROR, NXDOMAIN, ...
	avgLatency      float64        // seconds
}

var (
	reQPS     = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reSent    = regexp.MustCompile(`Queries sent:\s+(\d+)`)
	reDone    = regexp.MustCompile(`Queries completed:\s+(\d+)`)
	reLost    = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	reRcodes  = regexp.MustCompile(`Response codes:\s+(.*)`)
	reRcode   = regexp.MustCompile(`([A-Z]+) (\d+) \(`)
	reLatency = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

// runDNSPerf runs dnsperf against 127.0.0.1:port for d.
func runDNSPerf(ctx context.Context, o perfOpts, port int, file string, d time.Duration) (perfResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dnsperf", o.args(port, file, d)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return perfResult{}, fmt.Errorf("dnsperf: %w\n%s", err, out.String())
	}
	return parseDNSPerf(out.String())
}

func parseDNSPerf(s string) (perfResult, error) {
	var r perfResult
	m := reQPS.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("dnsperf printed no queries per second:\n%s", s)
	}
	r.qps, _ = strconv.ParseFloat(m[1], 64)
	atoi := func(re *regexp.Regexp) int {
		if m := re.FindStringSubmatch(s); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		return 0
	}
	r.sent, r.completed, r.lost = atoi(reSent), atoi(reDone), atoi(reLost)
	if m := reLatency.FindStringSubmatch(s); m != nil {
		r.avgLatency, _ = strconv.ParseFloat(m[1], 64)
	}
	r.rcodes = map[string]int{}
	if m := reRcodes.FindStringSubmatch(s); m != nil {
		for _, c := range reRcode.FindAllStringSubmatch(m[1], -1) {
			n, _ := strconv.Atoi(c[2])
			r.rcodes[c[1]] = n
		}
	}
	return r, nil
}

// check says what is wrong with a run's answers: lost queries, or response
// codes other than the query mix's NOERROR and NXDOMAIN (one query in nine).
func (r perfResult) check() string {
	var probs []string
	if r.completed == 0 {
		return "no query completed"
	}
	if r.lost > r.sent/1000 {
		probs = append(probs, fmt.Sprintf("%d of %d queries lost", r.lost, r.sent))
	}
	for code, n := range r.rcodes {
		if code != "NOERROR" && code != "NXDOMAIN" {
			probs = append(probs, fmt.Sprintf("%d %s", n, code))
		}
	}
	nx := float64(r.rcodes["NXDOMAIN"]) / float64(r.completed)
	if nx < 0.09 || nx > 0.13 {
		probs = append(probs, fmt.Sprintf("NXDOMAIN share %.1f%%, want about 11.1%%", 100*nx))
	}
	return strings.Join(probs, "; ")
}
