# kubesvc: a CoreDNS plugin for Kubernetes Service DNS.
#
#   make build         bin/coredns, CoreDNS with kubesvc
#   make test          everything CI runs: lint, unit tests (race), fuzzing (FUZZTIME each), end-to-end tests
#   make run           a local control plane seeded from testdata/ and bin/coredns on 127.0.0.1:1053
#                      (make run KUBECONFIG=path: against your own cluster instead)
#   make controlplane  bin/kube-apiserver and bin/etcd from pinned Go modules (only when missing)
#   make stock         bin/coredns-stock, stock CoreDNS (only when missing): the e2e tests'
#                      and the benchmark's reference
#   make bench         kubesvc vs stock CoreDNS vs the hosts ceiling on one control plane
#                      (BENCH_FLAGS=-quick for a smoke run; see hack/bench.sh)

GO        ?= go
BIN       := $(CURDIR)/bin
E2E_FLAGS ?= -v -count=1 -timeout 40m
FUZZTIME  ?= 30s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

export GOFLAGS := -buildvcs=false

.PHONY: all build controlplane stock test unit fuzz e2e lint run bench clean

all: build

build:
	$(GO) build -trimpath -o $(BIN)/coredns ./cmd/coredns

controlplane:
	@hack/build-controlplane.sh $(BIN)

stock:
	@hack/build-stock.sh $(BIN)

test: lint unit fuzz e2e

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target for FUZZTIME; the seeds are in testdata/fuzz and the code.
# hack/fuzz.sh tries a target again once only after Go 1.26's deadline race.
fuzz:
	hack/fuzz.sh $(GO) $(FUZZTIME) FuzzServeDNS FuzzParse FuzzServeExternal FuzzParseExternal FuzzSparseDecode

e2e: build controlplane stock
	cd e2e && KUBEBUILDER_ASSETS=$(BIN) KUBESVC_E2E_REQUIRED=1 $(GO) test $(E2E_FLAGS) ./...

lint:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd e2e && $(GO) run $(STATICCHECK) ./...

# Only KUBECONFIG given on make's command line selects your cluster: one
# merely exported in the shell does not.
OWN_CLUSTER := $(filter command line,$(origin KUBECONFIG))

run: build $(if $(OWN_CLUSTER),,controlplane)
	cd e2e && $(GO) run ./cmd/run $(if $(OWN_CLUSTER),-kubeconfig $(abspath $(KUBECONFIG)))

bench: build controlplane
	hack/bench.sh $(BENCH_FLAGS)

clean:
	rm -f $(BIN)/coredns
