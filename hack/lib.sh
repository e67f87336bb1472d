# Sourced by the build scripts in hack/: sets ROOT (the repository), OUT (the
# output directory: the script's first argument or "bin", a relative one
# resolved against ROOT; created), GO, and the environment of a standalone
# build module, which no go.work (or the caller's environment) may pull into
# another build list.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-bin}"
case "$OUT" in
/*) ;;
*) OUT="$ROOT/$OUT" ;;
esac
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

GO="${GO:-go}"
export GOWORK=off
export CGO_ENABLED=0
