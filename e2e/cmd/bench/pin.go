package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Pinning the servers apart. Side by side on a machine of 2 CPUs, the two
// servers take each other's CPU: when one server is handed a created
// service's event before the other (the API server's watch order, see
// swapWatchOrder), the other waits for a CPU while the first one works,
// and stock works on an event longer and in more threads than kubesvc. In
// the runs pooled in the README, stock's median latency was the same in
// either order, kubesvc's 0.2 ms longer when stock had the event first. In
// a cluster the two never share a CPU. So churn (d) times the creates again
// with each server's threads on CPUs of its own (sched_setaffinity), the
// API server, etcd and the bench still on every CPU: both are still timed
// on the same creates against the same API server at the same moment, and
// the halves swap the CPUs as they swap the watch order, so that neither
// server keeps a CPU that is busier with interrupts (the two halves' figures
// so mix the order with the CPU). Pinned, each server also runs with fewer
// Ps: Go's runtime (1.25 on) follows its CPU affinity, about once a second,
// so each pin is followed by pinSettle before the creates are timed. The
// measure's own bias: a server whose work on an event spreads over several
// threads (stock's) can spread it over one CPU only, here one in all.
const pinSettle = 1500 * time.Millisecond

// cpuHalves are the CPUs this process may run on, in two halves.
type cpuHalves struct{ a, b, all unix.CPUSet }

func (c cpuHalves) String() string {
	return fmt.Sprintf("%d and %d CPUs of %d", c.a.Count(), c.b.Count(), c.all.Count())
}

// cpusApart splits the CPUs the bench may run on in two halves (halves);
// an error if there are fewer than 2.
func cpusApart() (cpuHalves, error) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return cpuHalves{}, fmt.Errorf("pinning the servers apart: %w", err)
	}
	return halves(all)
}

// halves splits all in two by CPU number, the lower numbers first: on a
// machine with hyperthreads, which Linux mostly numbers i and i+n/2, each
// half then holds a thread of every core, and the servers share cores (this
// bench's machines have one thread a core).
func halves(all unix.CPUSet) (cpuHalves, error) {
	c := cpuHalves{all: all}
	n := all.Count()
	if n < 2 {
		return c, fmt.Errorf("pinning the servers apart needs 2 CPUs, the bench has %d", n)
	}
	seen := 0
	for cpu := 0; seen < n; cpu++ {
		if !all.IsSet(cpu) {
			continue
		}
		if seen < n/2 {
			c.a.Set(cpu)
		} else {
			c.b.Set(cpu)
		}
		seen++
	}
	return c, nil
}

// pin puts the first server of pair (kubesvc) on one half and the second
// on the other; swapped, the other way round.
func (c cpuHalves) pin(pair []*running, swapped bool) error {
	sets := [2]unix.CPUSet{c.a, c.b}
	if swapped {
		sets[0], sets[1] = sets[1], sets[0]
	}
	for i, r := range pair {
		if err := setThreadsAffinity(r.srv.Pid(), &sets[i%2]); err != nil {
			return fmt.Errorf("%s: %w", r.kind.name, err)
		}
	}
	return nil
}

// release lets every server of pair run on every CPU again.
func (c cpuHalves) release(pair []*running) error {
	for _, r := range pair {
		if err := setThreadsAffinity(r.srv.Pid(), &c.all); err != nil {
			return fmt.Errorf("%s: %w", r.kind.name, err)
		}
	}
	return nil
}

// setThreadsAffinity sets the CPUs of every thread of process pid. A thread
// started meanwhile takes its starter's CPUs, so passes go on until one
// finds no thread it had not set (at most maxPasses).
func setThreadsAffinity(pid int, set *unix.CPUSet) error {
	done := map[int]bool{}
	for range maxPasses {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		fresh := 0
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH { // ESRCH: the thread ended
				return fmt.Errorf("sched_setaffinity of thread %d: %w", tid, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("process %d kept starting threads over %d passes", pid, maxPasses)
}

const maxPasses = 10
