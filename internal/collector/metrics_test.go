package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// A registry that already holds the collector's metrics makes New fail with an
// error, not a panic.
func TestNewReturnsAMetricRegistrationError(t *testing.T) {
	p := &fakeProducer{}
	deps := Deps{Schemas: schemas.MustLoad(), Batched: p, Single: p, Topics: stream.DefaultTopics(), Metrics: prometheus.NewRegistry()}
	if _, err := New(testConfig(t), deps); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(t), deps); err == nil || !strings.Contains(err.Error(), "register metrics") {
		t.Errorf("New with the metrics registered already = %v, want a registration error", err)
	}
}
