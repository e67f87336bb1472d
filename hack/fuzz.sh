#!/usr/bin/env bash
# fuzz.sh GO FUZZTIME TARGET...: fuzzes each target for FUZZTIME.
#
# Go 1.26's fuzzing coordinator can fail a target that found nothing when
# -fuzztime runs out while a worker is mid-call: "context deadline
# exceeded", no failing input written (golang/go#75804, fixed in Go 1.27).
# Such a run, and only such a run, is tried once more; any other failure,
# and a failing input above all, fails at once.
#
# Each new input that widens coverage is minimized first, by default for up
# to 60 s, in which no new input is tried ("0/sec" in the log): a 30 s run
# spent most of its time so, on inputs that go to a cache a fresh machine
# throws away. -fuzzminimizetime 5s keeps the time for fuzzing.
set -uo pipefail
go=$1 fuzztime=$2
shift 2
for target in "$@"; do
	for try in 1 2; do
		log=$(mktemp)
		"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s . 2>&1 | tee "$log"
		status=${PIPESTATUS[0]}
		if [ "$status" -eq 0 ]; then
			rm -f "$log"
			break
		fi
		if [ "$try" -eq 1 ] && grep -q 'context deadline exceeded' "$log" &&
			! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"; then
			echo "fuzz.sh: $target: the coordinator's deadline race (golang/go#75804), nothing found; trying once more" >&2
			rm -f "$log"
			continue
		fi
		rm -f "$log"
		exit "$status"
	done
done
