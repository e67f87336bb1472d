#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver + etcd) from pinned Go modules
# fetched through the Go module proxy, for use as KUBEBUILDER_ASSETS (envtest
# looks for files named exactly "kube-apiserver" and "etcd").
#
# Usage: hack/build-controlplane.sh [OUTDIR]
#   OUTDIR defaults to "bin"; a relative OUTDIR is resolved against the repo root.
#
# Each binary is built only if it is missing from OUTDIR; delete it to rebuild.
# The versions are pinned by the build modules:
#   hack/controlplane/apiserver/go.mod  (k8s.io/kubernetes)
#   hack/controlplane/etcd/go.mod       (go.etcd.io/etcd/server/v3)
set -euo pipefail

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log() { printf '%s\n' "build-controlplane: $*" >&2; }

# Relative path of OUT for messages (falls back to the absolute path).
show_out() {
	case "$OUT" in
	"$ROOT"/*) printf '%s' "${OUT#"$ROOT"/}" ;;
	*) printf '%s' "$OUT" ;;
	esac
}

BUILD_PID=""
TMP_BIN=""
cleanup() {
	[ -n "$BUILD_PID" ] && kill "$BUILD_PID" 2>/dev/null || true
	[ -n "$TMP_BIN" ] && rm -f "$TMP_BIN" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# build NAME MODDIR PKG LDFLAGS: go build PKG inside MODDIR to OUT/NAME,
# printing a heartbeat line every 30 s while it runs. The binary is written to
# a temp name and moved into place only on success, so an interrupted build
# never looks "done".
build() {
	local name="$1" moddir="$2" pkg="$3" ldflags="$4"
	local start=$SECONDS rc=0
	TMP_BIN="$OUT/.$name.tmp.$$"
	"$GO" -C "$moddir" build -trimpath -ldflags="$ldflags" -o "$TMP_BIN" "$pkg" &
	BUILD_PID=$!
	local next=$((start + 30))
	while kill -0 "$BUILD_PID" 2>/dev/null; do
		sleep 1
		if [ "$SECONDS" -ge "$next" ] && kill -0 "$BUILD_PID" 2>/dev/null; then
			log "  ... still building $name ($((SECONDS - start))s elapsed)"
			next=$((next + 30))
		fi
	done
	wait "$BUILD_PID" || rc=$?
	BUILD_PID=""
	if [ "$rc" -ne 0 ]; then
		rm -f "$TMP_BIN"
		TMP_BIN=""
		log "building $name FAILED (exit $rc)"
		return "$rc"
	fi
	mv -f "$TMP_BIN" "$OUT/$name"
	TMP_BIN=""
	log "built $(show_out)/$name in $((SECONDS - start))s"
}

modversion() { "$GO" -C "$1" list -m -f '{{.Version}}' "$2"; }

# --- kube-apiserver ---------------------------------------------------------
APISERVER_MOD="$ROOT/hack/controlplane/apiserver"
if [ -x "$OUT/kube-apiserver" ]; then
	log "kube-apiserver present in $(show_out)/, skipping (delete it to rebuild)"
else
	kver="$(modversion "$APISERVER_MOD" k8s.io/kubernetes)"
	kminor="${kver#v1.}"
	kminor="${kminor%%.*}"
	log "building kube-apiserver from k8s.io/kubernetes $kver (about 6-12 minutes on 2 cores, only once; cached in $(show_out)/)"
	# Stamp the version the way the Kubernetes release build does, so
	# --version and /version report $kver instead of v0.0.0-master.
	vpkg=k8s.io/component-base/version
	build kube-apiserver "$APISERVER_MOD" k8s.io/kubernetes/cmd/kube-apiserver \
		"-s -w -X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$kminor -X $vpkg.gitTreeState=clean"
fi

# --- etcd -------------------------------------------------------------------
ETCD_MOD="$ROOT/hack/controlplane/etcd"
if [ -x "$OUT/etcd" ]; then
	log "etcd present in $(show_out)/, skipping (delete it to rebuild)"
else
	ever="$(modversion "$ETCD_MOD" go.etcd.io/etcd/server/v3)"
	log "building etcd from go.etcd.io/etcd/server/v3 $ever (about 1 minute on 2 cores, only once; cached in $(show_out)/)"
	# The root package of go.etcd.io/etcd/server/v3 is etcd's main package.
	build etcd "$ETCD_MOD" go.etcd.io/etcd/server/v3 "-s -w"
fi

log "control plane ready: export KUBEBUILDER_ASSETS=$OUT"
