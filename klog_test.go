package kubesvc

import (
	"errors"
	"strings"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"k8s.io/klog/v2"
)

// client-go's log lines, whichever klog call made them, arrive in CoreDNS's
// log at their own level: info as info, warnings as warnings, errors as
// errors, verbose lines as debug lines only under the debug plugin.
func TestClientGoLogLevels(t *testing.T) {
	logs := captureLog(t)
	logger := klog.Background().WithName("reflector").WithValues("type", "*v1.Service")
	klog.Info("printf info")
	klog.Warningf("printf %s", "warning")
	klog.Errorf("printf %s", "error")
	klog.InfoS("structured info", "key", "a value")
	klog.ErrorS(errors.New("boom"), "structured error")
	logger.Info("contextual info")
	logger.Info("Warning: watch ended with error", "err", errors.New("gone"))
	logger.Error(errors.New("bad"), "contextual error")
	logger.V(4).Info("verbose, off")
	clog.D.Set()
	logger.V(4).Info("verbose, under debug")
	clog.D.Clear()

	want := []string{
		"[INFO] plugin/kubesvc: client-go: printf info",
		"[WARNING] plugin/kubesvc: client-go: printf warning",
		"[ERROR] plugin/kubesvc: client-go: printf error",
		`[INFO] plugin/kubesvc: client-go: structured info key="a value"`,
		"[ERROR] plugin/kubesvc: client-go: structured error err=boom",
		"[INFO] plugin/kubesvc: client-go: reflector: contextual info type=*v1.Service",
		"[WARNING] plugin/kubesvc: client-go: reflector: Warning: watch ended with error type=*v1.Service err=gone",
		"[ERROR] plugin/kubesvc: client-go: reflector: contextual error type=*v1.Service err=bad",
		"[DEBUG] plugin/kubesvc: client-go: reflector: verbose, under debug type=*v1.Service",
	}
	got := logs.lines("client-go")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
