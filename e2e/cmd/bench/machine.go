package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// header prints the machine, the command and the settings.
func header(c config) {
	fmt.Println("kubesvc benchmark: kubesvc (bin/coredns) vs stock kubernetes plugin (bin/coredns-stock) vs hosts ceiling (bin/coredns)")
	if cmd := os.Getenv("KUBESVC_BENCH_COMMAND"); cmd != "" {
		fmt.Printf("command: %s\n", cmd)
	} else {
		fmt.Printf("command: cd e2e && go run ./cmd/bench%s\n", argString(os.Args[1:]))
	}
	fmt.Printf("machine: %s\n", machine())
	large := "no large cold start (-first-answer-services)"
	if c.firstAnswerN > 0 {
		large = fmt.Sprintf("large cold start at %d services", c.firstAnswerN)
	}
	fmt.Printf("settings: %d services (%.0f%% headless x %d endpoints, ClusterIP ones 3-10 endpoints, one headless of %d) over %d namespaces;\n"+
		"  %d round(s) x %s per server; settle %s; %d changes; %d flips (%d under the creates), %d moves; growth +%.0f%%; %s\n",
		c.services, 100*c.headlessFrac, c.endpoints, bigEndpoints, c.namespaces, c.rounds, c.duration, c.settle, c.changes,
		c.flips, c.flipsUnderCreates(), c.moves, 100*c.addFrac, large)
	fmt.Println()
}

// machine is one line about the machine: CPUs, model, memory, load, Go.
func machine() string {
	return fmt.Sprintf("%d CPUs (nproc), %s, %s, load average at start %s, %s",
		runtime.NumCPU(), cpuModel(), memTotal(), loadAvg(), runtime.Version())
}

func argString(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

func cpuModel() string {
	cpus, err := proc.CPUInfo()
	if err != nil || len(cpus) == 0 || cpus[0].ModelName == "" {
		return "unknown CPU"
	}
	return cpus[0].ModelName
}

func memTotal() string {
	mi, err := proc.Meminfo()
	if err != nil || mi.MemTotal == nil {
		return "memory unknown"
	}
	return fmt.Sprintf("%.1f GiB RAM", float64(*mi.MemTotal)/(1<<20)) // kB
}

func loadAvg() string {
	la, err := proc.LoadAvg()
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2f %.2f %.2f", la.Load1, la.Load5, la.Load15)
}
