package kubesvc

import (
	"fmt"
	"strings"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// client-go reports through klog: its lines go to CoreDNS's log, where
// operators look, each at its own level. klog's printf-style calls arrive as
// klog's own formatted line, whose header starts with the severity letter;
// structured and contextual calls arrive through the logr sink below.
func init() {
	klog.SetLoggerWithOptions(logr.New(klogSink{}), klog.ContextualLogger(true), klog.WriteKlogBuffer(writeKlog))
}

const klogPrefix = "client-go: "

// writeKlog logs one line klog formatted: "I1130 06:27:24.123456   42 file.go:12] message".
func writeKlog(line []byte) {
	s := strings.TrimRight(string(line), "\n")
	severity := byte('I')
	if len(s) > 1 && strings.IndexByte("IWEF", s[0]) >= 0 && s[1] >= '0' && s[1] <= '9' {
		if _, msg, ok := strings.Cut(s, "] "); ok {
			severity, s = s[0], msg
		}
	}
	switch severity {
	case 'W':
		log.Warning(klogPrefix + s)
	case 'E', 'F':
		log.Error(klogPrefix + s)
	default:
		log.Info(klogPrefix + s)
	}
}

// klogSink is a logr sink onto CoreDNS's log. Verbosity 0 is info, and
// client-go's "Warning: ..." infos are warnings; higher verbosities are
// debug lines, written only under the debug plugin.
type klogSink struct {
	name   string
	values []any
}

func (klogSink) Init(logr.RuntimeInfo) {}

func (klogSink) Enabled(level int) bool { return level <= 0 || clog.D.Value() }

func (s klogSink) Info(level int, msg string, kv ...any) {
	line := s.format(msg, kv)
	switch {
	case level > 0:
		log.Debug(line)
	case strings.HasPrefix(msg, "Warning:"):
		log.Warning(line)
	default:
		log.Info(line)
	}
}

func (s klogSink) Error(err error, msg string, kv ...any) {
	if err != nil {
		kv = append(kv, "err", err)
	}
	log.Error(s.format(msg, kv))
}

func (s klogSink) WithValues(kv ...any) logr.LogSink {
	s.values = append(s.values[:len(s.values):len(s.values)], kv...)
	return s
}

func (s klogSink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "/" + name
	}
	s.name = name
	return s
}

// format writes msg and its key/value pairs as one line.
func (s klogSink) format(msg string, kv []any) string {
	var b strings.Builder
	b.WriteString(klogPrefix)
	if s.name != "" {
		b.WriteString(s.name + ": ")
	}
	b.WriteString(msg)
	for _, pairs := range [][]any{s.values, kv} {
		for i := 0; i < len(pairs); i += 2 {
			var v any = "(missing)"
			if i+1 < len(pairs) {
				v = pairs[i+1]
			}
			if err, ok := v.(error); ok {
				v = err.Error()
			}
			fmt.Fprintf(&b, " %v=", pairs[i])
			if str, ok := v.(string); ok && strings.ContainsAny(str, " \"=") {
				fmt.Fprintf(&b, "%q", str)
			} else {
				fmt.Fprintf(&b, "%v", v)
			}
		}
	}
	return b.String()
}
