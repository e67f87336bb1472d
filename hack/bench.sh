#!/usr/bin/env bash
# The `make bench` wrapper: installs dnsperf if it is missing, builds stock
# CoreDNS into bin/coredns-stock if it is missing, then runs the benchmark
# driver (e2e/cmd/bench) with the arguments given, e.g.
#
#   hack/bench.sh                      # full run at 5,000 services (about 10 minutes on 2 cores)
#   hack/bench.sh -quick               # smoke test of every phase at small sizes (about 2 minutes)
#   hack/bench.sh -first-answer-services 20000   # plus growth, cold starts and churn at 20,000 services
#   hack/bench.sh -first-answer-services 100000  # the same at 100,000 (written straight into etcd, see -seed)
#   hack/bench.sh -h                   # every flag
#
# The driver prints a table per phase with kubesvc/stock ratios and writes
# the figures in Go benchmark format to bin/bench.txt (-gobench-out): keep
# one run's file and compare the next with `benchstat old.txt bin/bench.txt`.
#
# It expects bin/coredns, bin/kube-apiserver and bin/etcd (make build controlplane).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
log() { printf '%s\n' "bench: $*" >&2; }

if ! command -v dnsperf >/dev/null 2>&1; then
	log "dnsperf not found; installing the Debian package"
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { log "not root and no sudo: install dnsperf (apt-get install -y dnsperf)"; exit 1; }
		SUDO="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get install -y dnsperf || { $SUDO apt-get update && $SUDO apt-get install -y dnsperf; }
fi

for bin in coredns kube-apiserver etcd; do
	[ -x "$ROOT/bin/$bin" ] || { log "bin/$bin missing: run make build controlplane first"; exit 1; }
done
"$ROOT/hack/build-stock.sh" "$ROOT/bin"

cd "$ROOT/e2e"
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$ROOT/bin}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
"$GO" build -o "$ROOT/bin/.bench" ./cmd/bench
export KUBESVC_BENCH_COMMAND="hack/bench.sh${*:+ $*}"
exec "$ROOT/bin/.bench" -root "$ROOT" "$@"
