package kubesvc

import (
	"fmt"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const subsystem = "kubesvc"

func opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: plugin.Namespace, Subsystem: subsystem, Name: name, Help: help}
}

var (
	autopathCompleted = promauto.NewCounter(prometheus.CounterOpts(opts("autopath_completions_total",
		"Queries answered by completing the client's search-path walk on the server.")))
	autopathSaved = promauto.NewCounter(prometheus.CounterOpts(opts("autopath_saved_queries_total",
		"Queries clients did not have to send thanks to search-path completion.")))

	indexServices = promauto.NewGaugeVec(prometheus.GaugeOpts(opts("services",
		"Services in the index, by type.")), []string{"type"})
	indexNames = promauto.NewGauge(prometheus.GaugeOpts(opts("index_names",
		"Names in the index, parents and reverse names included.")))
	indexEndpoints = promauto.NewGauge(prometheus.GaugeOpts(opts("endpoints",
		"Endpoint addresses answered for headless services.")))

	informerSynced = promauto.NewGaugeVec(prometheus.GaugeOpts(opts("informer_synced",
		"1 once the informer delivered its first list.")), []string{"resource"})
	apiLastContact = promauto.NewGaugeVec(prometheus.GaugeOpts(opts("api_last_contact_timestamp_seconds",
		"When a list, watch or event last came from the API server; its age tells an outage.")), []string{"resource"})

	memoryReturns = promauto.NewCounter(prometheus.CounterOpts(opts("memory_returns_total",
		"Collections that returned the heap's free pages to the OS: after the first sync, and after each burst of change once it went quiet.")))

	programmingLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "dns_programming_duration_seconds",
		Help:    "From an EndpointSlice's last-change-trigger-time to its answers being served.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"service_kind"})
	indexUpdate = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "index_update_duration_seconds",
		Help:    "Time to rebuild and publish one service's answers after an event.",
		Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
	})

	answers = promauto.NewCounterVec(prometheus.CounterOpts(opts("answers_total",
		"Answers given, by the record type asked and the result.")), []string{"type", "result"})
	chases = promauto.NewCounterVec(prometheus.CounterOpts(opts("externalname_chases_total",
		"ExternalName targets chased through the plugin chain, by result.")), []string{"result"})
)

// servicesOfKind are indexServices' series, by kind: looked up once, not
// by label at every service's change.
var servicesOfKind [numSvcKinds]prometheus.Gauge

// The programming latency's series exist from the start: a dashboard or an
// alert then reads an empty histogram rather than nothing. ExternalName
// services have no endpoint slices. So do the services' series, at 0.
func init() {
	for _, k := range []svcKind{kindClusterIP, kindHeadless} {
		programmingLatency.WithLabelValues(kindNames[k])
	}
	for k := range servicesOfKind {
		servicesOfKind[k] = indexServices.WithLabelValues(kindNames[k])
	}
}

// Results of an answer, as the answers_total label.
const (
	resSuccess = iota
	resNoData
	resNXDomain
	resServFail
	resFallthrough
	resAutopath
	numResults
)

var resultNames = [numResults]string{"success", "nodata", "nxdomain", "servfail", "fallthrough", "autopath"}

// Every label value exists: a constant added without its name would count
// under "" (results) or panic when first used (kinds), so it fails the start.
func init() {
	for i, n := range resultNames {
		if n == "" {
			panic(fmt.Sprintf("kubesvc: answer result %d has no label value", i))
		}
	}
	for k, n := range kindNames {
		if n == "" {
			panic(fmt.Sprintf("kubesvc: service kind %d has no label value", k))
		}
	}
}

// answerTypes are the query types counted by name; the rest count as "other".
var answerTypes = [...]uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeCNAME, dns.TypeTXT,
	dns.TypeSOA, dns.TypeNS, dns.TypeANY}

// answerCounters holds the counters resolved once, so that counting an
// answer is an atomic add and not a label lookup: one row per type counted
// by name, and the last for "other". Sized from answerTypes, so a type
// added there gets its row.
var answerCounters = func() (c [len(answerTypes) + 1][numResults]prometheus.Counter) {
	for i := range c {
		t := "other"
		if i < len(answerTypes) {
			t = dns.TypeToString[answerTypes[i]]
		}
		for r := range c[i] {
			c[i][r] = answers.WithLabelValues(t, resultNames[r])
		}
	}
	return c
}()

func countAnswer(qtype uint16, result int) {
	i := len(answerTypes)
	for j, t := range answerTypes {
		if t == qtype {
			i = j
			break
		}
	}
	answerCounters[i][result].Inc()
}
