package main

import (
	"fmt"
	"os"
	"time"

	"github.com/prometheus/procfs"
)

// The bench reads /proc through prometheus/procfs: the machine's CPU split,
// and per server process its resident memory and the CPU time it has used.

var proc = func() procfs.FS {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		panic(fmt.Sprintf("open /proc: %v", err)) // Linux only, like the servers it runs
	}
	return fs
}()

// cpuTimes is the machine-wide "cpu" line of /proc/stat, in seconds.
type cpuTimes struct {
	total, idle, steal float64
	ok                 bool
}

func readCPU() cpuTimes {
	st, err := proc.Stat()
	if err != nil {
		return cpuTimes{}
	}
	c := st.CPUTotal
	// Guest time is already counted in user.
	total := c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal
	return cpuTimes{total: total, idle: c.Idle + c.Iowait, steal: c.Steal, ok: true}
}

// since is the share of CPU time that was busy and that was stolen by the
// hypervisor between then and now, in percent.
func (now cpuTimes) since(then cpuTimes) (busy, steal float64) {
	if !now.ok || !then.ok || now.total <= then.total {
		return 0, 0
	}
	d := now.total - then.total
	return 100 * (1 - (now.idle-then.idle)/d), 100 * (now.steal - then.steal) / d
}

// procCPU is the CPU time process pid has used so far. It sums the
// scheduler's run time of every thread (/proc/PID/task/*/schedstat, in
// nanoseconds): utime and stime of /proc/PID/stat count whole clock ticks
// of 10 ms, too coarse for a few hundred changes that cost microseconds
// each. A Go process keeps its threads, so none of the time is lost with an
// exited thread. Without schedstat (a kernel built without it) it falls back
// to the ticks.
func procCPU(pid int) (time.Duration, error) {
	threads, err := proc.AllThreads(pid)
	if err == nil {
		var ns uint64
		for _, t := range threads {
			s, err := t.Schedstat()
			if err != nil {
				ns = 0
				break
			}
			ns += s.RunningNanoseconds
		}
		if ns > 0 {
			return time.Duration(ns), nil
		}
	}
	p, err := proc.Proc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, err
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), nil
}

// rssKB is the process's resident set (VmRSS) in KiB.
func rssKB(pid int) (int64, error) {
	st, err := procStatus(pid)
	if err != nil {
		return 0, err
	}
	return int64(st.VmRSS / 1024), nil
}

// anonKB is the process's anonymous resident memory (RssAnon) in KiB:
// VmRSS less the pages of files mapped (the binary's code) and shared.
func anonKB(pid int) (int64, error) {
	st, err := procStatus(pid)
	if err != nil {
		return 0, err
	}
	return int64(st.RssAnon / 1024), nil
}

// peakRSSKB is the process's resident high-water mark (VmHWM) in KiB.
func peakRSSKB(pid int) (int64, error) {
	st, err := procStatus(pid)
	if err != nil {
		return 0, err
	}
	return int64(st.VmHWM / 1024), nil
}

// resetPeakRSS sets the process's VmHWM to its current VmRSS (writing 5 to
// /proc/PID/clear_refs; see proc(5)), so that a later peakRSSKB is the peak
// since now.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func procStatus(pid int) (procfs.ProcStatus, error) {
	p, err := proc.Proc(pid)
	if err != nil {
		return procfs.ProcStatus{}, err
	}
	return p.NewStatus()
}
