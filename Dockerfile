# syntax=docker/dockerfile:1
#
# CoreDNS with the kubesvc plugin (./cmd/coredns), the image deploy/ runs.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/kubesvc/coredns:TAG --push .
#
# Final stage: distroless static (nonroot), not scratch: it already carries CA
# certificates (forward over TLS), tzdata and an /etc/passwd naming uid/gid
# 65532 "nonroot", with nothing else in it (no shell, no package manager), so
# there is nothing to hand-assemble and nothing to drift from upstream.

# The builder runs on the build host's platform and cross-compiles (no cgo),
# so a multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build

# setcap, to let the non-root binary bind port 53 (see below).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .

ARG TARGETOS=linux
ARG TARGETARCH
# -buildvcs=false: .git is not in the build context (.dockerignore).
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags='-s -w' -o /coredns ./cmd/coredns

# Kubernetes gives a non-root process no ambient capabilities, so
# `capabilities.add: [NET_BIND_SERVICE]` alone does not let uid 65532 bind
# port 53: the binary carries the capability as a file capability, which the
# Pod's securityContext keeps in the bounding set (as the upstream CoreDNS
# image does; COPY --from keeps the xattr).
RUN setcap cap_net_bind_service=+ep /coredns

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /coredns /coredns
USER 65532:65532
# distroless's nonroot WORKDIR is /home/nonroot; relative paths in a Corefile
# resolve from / as in the upstream CoreDNS image.
WORKDIR /
# DNS, metrics (prometheus), health (liveness), ready (readiness).
EXPOSE 53 53/udp 9153 8080 8181
ENTRYPOINT ["/coredns"]
