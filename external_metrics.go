package kubesvc

import (
	"slices"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// externalAnswers counts k8s_external's answers, with answers_total's
// labels: the type asked and the result.
var externalAnswers = promauto.NewCounterVec(prometheus.CounterOpts(opts("external_answers_total",
	"Answers given in the k8s_external zones, by the record type asked and the result.")), []string{"type", "result"})

func countExternal(qtype uint16, result int) {
	t := "other"
	if slices.Contains(answerTypes[:], qtype) {
		t = dns.TypeToString[qtype]
	}
	externalAnswers.WithLabelValues(t, resultNames[result]).Inc()
}
