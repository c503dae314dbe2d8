package sink

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The sink's metrics go to the registry it is given, and a clash is an error
// Run returns, not a panic.
func TestMetricsRegisterOnceAndReportAClash(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := newMetrics(reg); err == nil {
		t.Error("newMetrics registered the same metrics twice without an error")
	}
}
