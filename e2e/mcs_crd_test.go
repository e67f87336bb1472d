package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// serviceImportCRD is the ServiceImport CustomResourceDefinition as the
// Multi-Cluster Services API module ships it (sigs.k8s.io/mcs-api, the
// version this module requires, stock CoreDNS 1.15's), read from the module
// cache: the multicluster tests' imports need the resource in the shared
// control plane.
func serviceImportCRD() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-json", "sigs.k8s.io/mcs-api")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating sigs.k8s.io/mcs-api in the module cache: %w", err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", fmt.Errorf("go list -m -json sigs.k8s.io/mcs-api: %w", err)
	}
	if mod.Dir == "" {
		return "", fmt.Errorf("sigs.k8s.io/mcs-api %s is not in the module cache (go mod download sigs.k8s.io/mcs-api)", mod.Version)
	}
	path := filepath.Join(mod.Dir, "config", "crd", "multicluster.x-k8s.io_serviceimports.yaml")
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}
