package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func cpuSet(cpus ...int) unix.CPUSet {
	var s unix.CPUSet
	for _, c := range cpus {
		s.Set(c)
	}
	return s
}

func TestHalvesSplitTheCPUsInTwoByNumber(t *testing.T) {
	for name, tc := range map[string]struct {
		all  []int
		a, b []int
	}{
		"two":           {[]int{0, 1}, []int{0}, []int{1}},
		"odd":           {[]int{0, 1, 2}, []int{0}, []int{1, 2}},
		"gapped":        {[]int{2, 5, 7, 9}, []int{2, 5}, []int{7, 9}},
		"high numbered": {[]int{1000, 1001, 1022, 1023}, []int{1000, 1001}, []int{1022, 1023}},
	} {
		c, err := halves(cpuSet(tc.all...))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.a != cpuSet(tc.a...) || c.b != cpuSet(tc.b...) || c.all != cpuSet(tc.all...) {
			t.Errorf("%s: halves of %v are %v and %v, want %v and %v", name, tc.all, c.a, c.b, tc.a, tc.b)
		}
	}
	for _, one := range [][]int{nil, {3}} {
		if c, err := halves(cpuSet(one...)); err == nil {
			t.Errorf("CPUs %v split without error into %s", one, c)
		}
	}
}

// TestHelperProcessIdles is the child of
// TestSetThreadsAffinityPinsEveryThreadOfAProcess: a Go process (several
// threads) that idles until killed.
func TestHelperProcessIdles(t *testing.T) {
	if os.Getenv("BENCH_PIN_HELPER") != "1" {
		t.Skip("the child of TestSetThreadsAffinityPinsEveryThreadOfAProcess")
	}
	for range 8 { // threads blocked in system calls, besides the runtime's
		go func() { time.Sleep(time.Minute) }()
		go func() { var b [1]byte; _, _ = os.Stdin.Read(b[:]) }()
	}
	time.Sleep(time.Minute)
}

func TestSetThreadsAffinityPinsEveryThreadOfAProcess(t *testing.T) {
	c, err := cpusApart()
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessIdles$")
	cmd.Env = append(os.Environ(), "BENCH_PIN_HELPER=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	tasks := func() []os.DirEntry {
		ts, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	for deadline := time.Now().Add(10 * time.Second); len(tasks()) < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the child has %d threads after 10s, want several", len(tasks()))
		}
	}
	for _, want := range []unix.CPUSet{c.b, c.all} {
		if err := setThreadsAffinity(pid, &want); err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks() {
			tid, _ := strconv.Atoi(task.Name())
			var got unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("thread %d of %d runs on %v after setting %v", tid, pid, got, want)
			}
		}
	}
}
