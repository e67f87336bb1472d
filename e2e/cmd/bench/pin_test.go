package main

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCPUsApartAreTwoHalvesOfTheBenchsCPUs(t *testing.T) {
	c, err := cpusApart()
	var all unix.CPUSet
	if e := unix.SchedGetaffinity(0, &all); e != nil {
		t.Fatal(e)
	}
	if all.Count() < 2 {
		if err == nil {
			t.Fatalf("%d CPU: split without error into %s", all.Count(), c)
		}
		t.Skipf("%d CPU: %v", all.Count(), err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.a.Count() == 0 || c.b.Count() == 0 || c.a.Count()+c.b.Count() != all.Count() || c.all != all {
		t.Fatalf("halves %v and %v of %v, want two non-empty halves of every CPU", c.a, c.b, all)
	}
	for cpu := range 1024 {
		if c.a.IsSet(cpu) && c.b.IsSet(cpu) {
			t.Fatalf("CPU %d is in both halves", cpu)
		}
	}
}

func TestSetThreadsAffinityPinsEveryThreadOfAProcess(t *testing.T) {
	c, err := cpusApart()
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	for _, want := range []unix.CPUSet{c.b, c.all} {
		if err := setThreadsAffinity(pid, &want); err != nil {
			t.Fatal(err)
		}
		var got unix.CPUSet
		if err := unix.SchedGetaffinity(pid, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("process %d runs on %v after setting %v", pid, got, want)
		}
	}
}
