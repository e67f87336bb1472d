//go:build tools

// Package tools records the build target so that `go mod tidy` keeps
// go.etcd.io/etcd/server/v3 and its transitive requirements in go.mod/go.sum.
// The root package of go.etcd.io/etcd/server/v3 is the etcd main package.
package tools

import _ "go.etcd.io/etcd/server/v3"
