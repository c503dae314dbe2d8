package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/loadgen"
)

func TestParseSimulateReadsTheLastSummaryLine(t *testing.T) {
	out := "simulate: sent 1000/2000 (50%), failed 0, 9000 events/s\n" +
		"summary sent=1 failed=0 seconds=0.01 rate=100\n" + // an earlier run's line is not taken
		"summary sent=2000 failed=3 seconds=1.50 rate=1333\n"
	s, err := parseSimulate(out)
	if err != nil {
		t.Fatal(err)
	}
	want := SimulateSummary{Sent: 2000, Failed: 3, Seconds: 1.5, Rate: 1333}
	if s != want {
		t.Errorf("parseSimulate = %+v, want %+v", s, want)
	}
}

func TestParseSimulateNamesWhatIsWrong(t *testing.T) {
	tests := []struct{ name, out, wantErr string }{
		{"no summary at all", "simulate: sent 10, failed 0\n", "no summary line"},
		{"a field missing", "summary sent=10 failed=0 seconds=1\n", "no rate"},
		{"a count that is not a number", "summary sent=ten failed=0 seconds=1 rate=10\n", `sent="ten"`},
		{"a pair without =", "summary sent=10 failed\n", "not key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSimulate(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSimulate error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// The parser reads what producer loadgen really prints: its Report's String.
func TestParseLoadgenReadsLoadgensOwnReport(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Millisecond
	}
	rep := loadgen.Report{
		Requests: 120, Errors: 2, Statuses: map[int]int{202: 110, 503: 8},
		Sent: 60000, Accepted: 55000, Rejected: 12, Elapsed: 10 * time.Second,
		Latencies: lat, RSS: 90 << 20, PeakRSS: 120 << 20,
	}
	c, err := parseLoadgen("loadgen: 10 requests\n" + rep.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.PerSec != 5500 || c.Requests != 120 || c.Accepted != 55000 || c.Rejected != 12 || c.Errors != 2 {
		t.Errorf("counts = %+v", c)
	}
	if c.P50ms != 50 || c.P99ms != 99 {
		t.Errorf("p50 %v p99 %v, want 50 and 99 ms", c.P50ms, c.P99ms)
	}
	if c.Status != "202=110,503=8,errors=2" {
		t.Errorf("status = %q", c.Status)
	}
	if c.PeakRSS != 120<<20 {
		t.Errorf("peak RSS = %d, want %d", c.PeakRSS, 120<<20)
	}
}

func TestParseLoadgenWithoutSummaryFails(t *testing.T) {
	if _, err := parseLoadgen("loadgen: none of 3 requests got an answer\n"); err == nil {
		t.Error("want an error")
	}
}
