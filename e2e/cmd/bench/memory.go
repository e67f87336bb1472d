package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// growthSet is the memory each service added under running servers cost.
type growthSet struct {
	from, added int
	kb          map[string]float64 // KiB of VmRSS per added service, by server
	heapB       map[string]float64 // bytes of heap in use per added service
	liveB       map[string]float64 // bytes of live heap (after a collection) per added service
	anonKB      map[string]float64 // KiB of RssAnon (VmRSS less the binary's pages) per added service
}

// growthPhase adds -add-fraction of the services under running servers,
// then times cold starts at the new size.
func (b *bench) growthPhase() error {
	add := int(b.c.addFrac * float64(b.c.services))
	if add == 0 {
		return nil
	}
	b.logf("memory growth: +%d services under running kubesvc and stock, with the default GOGC and with GOMEMLIMIT=%s (%s)", add, b.memLimit, b.memLimitFrom)
	if err := b.growth(add, false); err != nil {
		return err
	}
	return b.coldPhase(2 * time.Minute)
}

// growth adds add services under fresh servers (through the API, or
// straight into etcd: either way they reach the servers through the API
// server's watch), with the default GOGC and with GOMEMLIMIT, and records
// what each grew by per added service. Memory
// is read the same way before and after: after a short burst of queries
// (the garbage collector then runs at its steady pace) and a settle, so the
// heap's slack counts the same both times. Before the first reading, a few
// services (warmUp) are added through the API and memory is read once
// unrecorded: what the first services added to a running server cost once
// (the code pages of the watch's path, buffers kept for the next event),
// and what the first reading itself leaves, are then not counted as the
// cost of each.
func (b *bench) growth(add int, viaEtcd bool) error {
	servers, err := b.startPair(b.pks, b.pst, b.lks, b.lst)
	if err != nil {
		return err
	}
	defer b.stopAll(servers)
	warm := min(warmUp, add/10)
	if err := b.grown(servers, warm, false); err != nil {
		return err
	}
	add -= warm
	// Read once unrecorded: the first reading is the first heap profile
	// the servers write, and it leaves pages resident that later ones
	// reuse (its handler's code, the symbol tables it reads, its buffers:
	// about 3 MB in all, as much as 1,900 services cost kubesvc), which
	// would be charged to the services added after it.
	if _, err := b.measureMemory(servers); err != nil {
		return err
	}
	set := growthSet{from: len(b.d.svcs), added: add, kb: map[string]float64{}, heapB: map[string]float64{}, liveB: map[string]float64{}, anonKB: map[string]float64{}}
	before, err := b.measureMemory(servers)
	if err != nil {
		return err
	}
	if err := b.grown(servers, add, viaEtcd); err != nil {
		return err
	}
	if _, err := writeQueries(b.queryPath, b.d.svcs, b.c.namespaces); err != nil {
		return err
	}
	after, err := b.measureMemory(servers)
	if err != nil {
		return err
	}
	for _, r := range servers {
		k := r.kind.name
		set.kb[k] = float64(after[k][0]-before[k][0]) / float64(add)
		set.heapB[k] = 1024 * float64(after[k][1]-before[k][1]) / float64(add)
		set.liveB[k] = 1024 * float64(after[k][2]-before[k][2]) / float64(add)
		set.anonKB[k] = float64(after[k][3]-before[k][3]) / float64(add)
		b.logf("  %-16s RSS %s -> %s: %.2f KB per added service (anonymous %.2f KB); heap in use %.0f B, live heap %.0f B per added service",
			k, fmtKB(before[k][0]), fmtKB(after[k][0]), set.kb[k], set.anonKB[k], set.heapB[k], set.liveB[k])
	}
	if len(b.res.growth) == 0 {
		b.gb.allocs(b.res.allocs)
	}
	b.res.growth = append(b.res.growth, set)
	b.gb.growth(set)
	return nil
}

// warmUp is the services (at most a tenth of them) added under the running
// servers before memory is first read (see growth).
const warmUp = 100

// grown adds add services and waits until every server answers for them.
func (b *bench) grown(servers []*running, add int, viaEtcd bool) error {
	from := len(b.d.svcs)
	if err := b.growTo(from+add, viaEtcd); err != nil {
		return err
	}
	es := b.probes()
	if viaEtcd { // and about 200 of the services written into etcd, spread over them
		es = append(es, spreadProbes(b.d.svcs[from:], 200)...)
	}
	for _, r := range servers {
		if _, err := waitCorrect(b.ctx, r.addr, es, 20*time.Millisecond, time.Now().Add(10*time.Minute), r.srv.Exited()); err != nil {
			return fmt.Errorf("%s after growth: %w; its log ends:\n%s", r.kind.name, err, tail(r.srv.Log(), 40))
		}
	}
	return nil
}

// measureMemory is each server's VmRSS, heap in use, live heap and RssAnon (KiB),
// after a 2 s query burst and the settle; the live heap is read last, as it
// runs a collection.
func (b *bench) measureMemory(servers []*running) (map[string][4]int64, error) {
	for _, r := range servers {
		m0, err := mallocs(r)
		if err != nil {
			return nil, err
		}
		pr, err := runDNSPerf(b.ctx, b.c.perf, portOf(r), b.queryPath, 2*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.kind.name, err)
		}
		m1, err := mallocs(r)
		if err != nil {
			return nil, err
		}
		if _, seen := b.res.allocs[r.kind.name]; !seen && pr.completed > 0 {
			b.res.allocs[r.kind.name] = (m1 - m0) / float64(pr.completed)
		}
	}
	if err := sleep(b.ctx, b.c.settle); err != nil {
		return nil, err
	}
	out := map[string][4]int64{}
	for _, r := range servers {
		kb, err := rssKB(r.srv.Pid())
		if err != nil {
			return nil, err
		}
		anon, err := anonKB(r.srv.Pid())
		if err != nil {
			return nil, err
		}
		_, inuse, err := heapKB(r)
		if err != nil {
			return nil, err
		}
		out[r.kind.name] = [4]int64{kb, inuse, 0, anon}
	}
	for _, r := range servers {
		live, err := liveHeapKB(r)
		if err != nil {
			return nil, err
		}
		m := out[r.kind.name]
		m[2] = live
		out[r.kind.name] = m
	}
	return out, nil
}

// deployMemLimit is the GOMEMLIMIT to measure with and where it comes from:
// flag if given, else the coredns container's GOMEMLIMIT in
// deploy/base/deployment.yaml (a value, or the memory limit through a
// resourceFieldRef), else that container's memory limit itself.
func deployMemLimit(root, flag string) (limit, from string, err error) {
	if flag != "" {
		return flag, "-gomemlimit", nil
	}
	path := filepath.Join(root, "deploy", "base", "deployment.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(data, &d); err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != "coredns" {
			continue
		}
		mem, hasLimit := c.Resources.Limits["memory"]
		for _, e := range c.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			if e.Value != "" {
				return e.Value, "deploy/base/deployment.yaml", nil
			}
			if ref := e.ValueFrom; ref != nil && ref.ResourceFieldRef != nil && ref.ResourceFieldRef.Resource == "limits.memory" && hasLimit {
				div := int64(1)
				if !ref.ResourceFieldRef.Divisor.IsZero() {
					div = ref.ResourceFieldRef.Divisor.Value()
				}
				return strconv.FormatInt(mem.Value()/div, 10), "deploy/base/deployment.yaml: limits.memory " + mem.String(), nil
			}
		}
		if hasLimit {
			return strconv.FormatInt(mem.Value(), 10), "deploy/ sets no GOMEMLIMIT: its memory limit " + mem.String(), nil
		}
	}
	return "", "", fmt.Errorf("%s: no coredns container with a memory limit or GOMEMLIMIT (give -gomemlimit)", path)
}

// withEnv is k run with key=value in its environment, through a wrapper
// script in dir that execs the binary (so the pid is the server's).
func withEnv(k *kind, dir, key, value string) (*kind, error) {
	name := k.name + "-memlimit"
	path := filepath.Join(dir, name+".sh")
	script := fmt.Sprintf("#!/bin/sh\nexec env %s=%s %s \"$@\"\n", key, strconv.Quote(value), strconv.Quote(k.binary))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return nil, err
	}
	return &kind{name: name, binary: path, corefile: k.corefile}, nil
}
