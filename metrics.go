package kubesvc

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const subsystem = "kubesvc"

var (
	autopathCompleted = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "autopath_completions_total",
		Help:      "Queries answered by completing the client's search-path walk on the server.",
	})
	autopathSaved = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: subsystem,
		Name:      "autopath_saved_queries_total",
		Help:      "Queries clients did not have to send thanks to search-path completion.",
	})
)
