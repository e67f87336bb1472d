#!/usr/bin/env bash
# Builds stock CoreDNS (with its stock kubernetes plugin) from the Go module
# proxy into OUTDIR/coredns-stock, the baseline of the benchmark (make bench).
#
# Usage: hack/build-stock.sh [OUTDIR]
#   OUTDIR defaults to "bin"; a relative OUTDIR is resolved against the repo root.
#
# Built only if missing from OUTDIR; delete it to rebuild. The CoreDNS version
# is pinned by hack/stock/go.mod (github.com/coredns/coredns).
set -euo pipefail

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export GOFLAGS=-buildvcs=false

log() { printf '%s\n' "build-stock: $*" >&2; }

MOD="$ROOT/hack/stock"
if [ -x "$OUT/coredns-stock" ]; then
	log "coredns-stock present in $OUT, skipping (delete it to rebuild)"
	exit 0
fi

TMP_BIN="$OUT/.coredns-stock.tmp.$$"
trap 'rm -f "$TMP_BIN"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ver="$("$GO" -C "$MOD" list -m -f '{{.Version}}' github.com/coredns/coredns)"
log "building stock CoreDNS $ver into $OUT/coredns-stock (a few minutes on 2 cores, only once)"
start=$SECONDS
# Same flags as `make build` uses for bin/coredns, so the two binaries compare.
"$GO" -C "$MOD" build -trimpath -o "$TMP_BIN" .
mv -f "$TMP_BIN" "$OUT/coredns-stock"
log "built coredns-stock (CoreDNS $ver) in $((SECONDS - start))s"
