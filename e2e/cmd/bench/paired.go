package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Paired latencies. Every service the latency phases create is timed at
// both servers at once, from the same API write, so the two latencies of a
// create share what delays both (the API server's fan-out, a busy
// machine): most of the tail. A ratio of two percentiles taken apart
// carries that common noise; paired, the creates tell how often and by how
// much one server answered before the other, and resampling the creates
// (a bootstrap) gives how far the ratio of the percentiles can move by
// chance alone. A create one of the servers missed (no correct answer in
// 10 s) has no pair: the table's missed counts say how many were left out.

// latencyPair is one create's latencies: [0] kubesvc's, [1] stock's.
type latencyPair [2]time.Duration

// pairedSummary compares the servers create by create.
type pairedSummary struct {
	n                        int
	kubesvcFirst, stockFirst int // answered at least half a poll before the other
	samePoll                 int
	// ratioCI is the 95 % bootstrap interval of the ratio of the servers'
	// percentile p (kubesvc/stock), by p.
	ratioCI map[float64][2]float64
}

// bootstrapRounds is how many resamplings make an interval; the seed is
// fixed, so that a report is the same for the same latencies.
const bootstrapRounds = 2000

// comparePairs summarises pairs polled every poll.
func comparePairs(pairs []latencyPair, poll time.Duration) pairedSummary {
	return compareStrata([][]latencyPair{pairs}, poll)
}

// compareStrata summarises the pairs of several runs (strata) polled every
// poll, taken together: each resampling draws from each run as many of
// its creates as it has, so that the interval carries the creates' chance
// within a run, and a run's conditions stay its own.
func compareStrata(strata [][]latencyPair, poll time.Duration) pairedSummary {
	s := pairedSummary{ratioCI: map[float64][2]float64{}}
	for _, pairs := range strata {
		s.n += len(pairs)
		for _, p := range pairs {
			switch d := p[0] - p[1]; {
			case d <= -poll/2:
				s.kubesvcFirst++
			case d >= poll/2:
				s.stockFirst++
			default:
				s.samePoll++
			}
		}
	}
	if s.n == 0 {
		return s
	}
	r := rand.New(rand.NewPCG(1, 2))
	ks, st := make([]time.Duration, 0, s.n), make([]time.Duration, 0, s.n)
	for _, p := range []float64{50, 99} {
		ratios := make([]float64, 0, bootstrapRounds)
		for range bootstrapRounds {
			ks, st = ks[:0], st[:0]
			for _, pairs := range strata {
				for range pairs {
					pick := pairs[r.IntN(len(pairs))]
					ks, st = append(ks, pick[0]), append(st, pick[1])
				}
			}
			a, _ := percentile(ks, p)
			b, _ := percentile(st, p)
			ratios = append(ratios, float64(a)/float64(b))
		}
		slices.Sort(ratios)
		s.ratioCI[p] = [2]float64{ratios[bootstrapRounds*25/1000], ratios[bootstrapRounds*975/1000-1]}
	}
	return s
}

// String is the summary as the report prints it.
func (s pairedSummary) String() string {
	if s.n == 0 {
		return "no create answered by both"
	}
	ci := func(p float64) string { return fmt.Sprintf("[%.2f, %.2f]", s.ratioCI[p][0], s.ratioCI[p][1]) }
	return fmt.Sprintf("paired over %d creates: kubesvc answered first %d times, stock %d, both at the same poll %d; 95%% bootstrap interval of kubesvc/stock p50 %s, p99 %s",
		s.n, s.kubesvcFirst, s.stockFirst, s.samePoll, ci(50), ci(99))
}
