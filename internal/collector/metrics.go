package collector

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests     *prometheus.CounterVec
	received     *prometheus.CounterVec
	accepted     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	deadLettered prometheus.Counter
	produce      prometheus.Histogram
	batch        prometheus.Histogram
	authRefused  *prometheus.CounterVec
	slowBodies   prometheus.Counter
	rateLimited  *prometheus.CounterVec
}

// Reasons an event is rejected, the label of veil_collector_events_rejected_total.
const (
	reasonKind      = "kind"      // unknown kind, fingerprint or a clean schema
	reasonSchema    = "schema"    // JSON that does not fit the schema: type, missing or unknown field
	reasonMalformed = "malformed" // Avro record that does not decode
	reasonInvalid   = "invalid"   // schemas.Validate refused it
	reasonTooLarge  = "too_large" // encoded record over --max-record-bytes
	reasonRefused   = "refused"   // Kafka refused the record: dead-lettered
	reasonEncode    = "encode"    // goavro could not encode it (a bug if it happens)
	reasonForbidden = "forbidden" // an installation credential's event naming another installation (the batch gets 403)
)

func newMetrics(reg prometheus.Registerer, b *budget, cl *connLimit, ls *limiters) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_collector_requests_total",
			Help: "HTTP requests answered, by status code and fleet (empty when unauthenticated).",
		}, []string{"code", "fleet"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_collector_events_received_total",
			Help: "Events in batches that parsed, by fleet.",
		}, []string{"fleet"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_collector_events_accepted_total",
			Help: "Events Kafka acknowledged and a 202 reported accepted, by fleet.",
		}, []string{"fleet"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_collector_events_rejected_total",
			Help: "Events refused with an error in the response, by reason (kind, schema, malformed, invalid, too_large, refused, encode, forbidden).",
		}, []string{"reason"}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "veil_collector_events_deadlettered_total",
			Help: "Events Kafka refused on their own, written to the dead-letter topic.",
		}),
		produce: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "veil_collector_produce_seconds",
			Help:    "Time from handing a batch's records to the Kafka writer to their acknowledgement or failure.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "veil_collector_batch_events",
			Help:    "Events per batch received.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		authRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_collector_auth_refused_total",
			Help: "Requests answered 401 or 403, by reason (missing, invalid, unknown_key, expired, revoked, wrong_role, other_installation).",
		}, []string{"reason"}),
		slowBodies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "veil_collector_slow_bodies_total",
			Help: "Request bodies cut off because they arrived slower than --min-body-rate or paused for --body-timeout (the connection is closed).",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_collector_rate_limited_total",
			Help: "Requests answered 429 because their credential exceeded its rate (--rate-limit, --installation-rate-limit), by fleet.",
		}, []string{"fleet"}),
	}
	cs := []prometheus.Collector{m.requests, m.received, m.accepted, m.rejected, m.deadLettered, m.produce, m.batch, m.authRefused, m.slowBodies, m.rateLimited,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veil_collector_inflight_bytes",
			Help: "Bytes held by requests in flight and by their records until Kafka answers.",
		}, func() float64 { return float64(b.used.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veil_collector_inflight_limit_bytes",
			Help: "The in-flight byte budget (--max-inflight).",
		}, func() float64 { return float64(b.limit) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veil_collector_connections",
			Help: "Connections open now, at most veil_collector_connections_limit.",
		}, func() float64 { return float64(cl.open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veil_collector_connections_limit",
			Help: "The connection cap (--max-connections).",
		}, func() float64 { return float64(cap(cl.slots)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "veil_collector_connections_waited_total",
			Help: "New connections that found --max-connections open and none idle, and waited for one to close.",
		}, func() float64 { return float64(cl.waited.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "veil_collector_connections_reclaimed_total",
			Help: "Idle keep-alive connections closed to make room for a new one at --max-connections.",
		}, func() float64 { return float64(cl.reclaimed.Load()) }),
	}
	if ls != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "veil_collector_rate_limit_credentials",
			Help: "Credentials whose request rate is remembered now, at most --rate-credentials.",
		}, func() float64 { return float64(ls.remembered()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("collector: register metrics: %w", err)
		}
	}
	for _, r := range []string{reasonKind, reasonSchema, reasonMalformed, reasonInvalid, reasonTooLarge, reasonRefused, reasonEncode, reasonForbidden} {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range authReasons {
		m.authRefused.WithLabelValues(r)
	}
	return m, nil
}
