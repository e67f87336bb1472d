//go:build tools

// Package tools records the build target so that `go mod tidy` keeps
// k8s.io/kubernetes and its transitive requirements in go.mod/go.sum.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
