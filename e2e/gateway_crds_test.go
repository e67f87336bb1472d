package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// gatewayCRDs are the Gateway API's standard CRDs for Gateways and
// HTTPRoutes, from the module this one requires (the Go module proxy's
// copy in the module cache; nothing else is downloaded).
func gatewayCRDs() ([]string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		return nil, fmt.Errorf("locating the Gateway API module for its CRDs: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	return []string{
		filepath.Join(dir, "gateway.networking.k8s.io_gatewayclasses.yaml"),
		filepath.Join(dir, "gateway.networking.k8s.io_gateways.yaml"),
		filepath.Join(dir, "gateway.networking.k8s.io_httproutes.yaml"),
	}, nil
}
