package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sampleResults() *Results {
	r := &Results{
		Commit: "0123456789abcdef0123", Time: time.Date(2026, 11, 24, 16, 0, 0, 0, time.UTC), RunID: "bench-1",
		GOMAXPROCS: 2, NProc: 2, Flags: map[string]string{"partitions": "8", "compression": "lz4"},
		Command: "scripts/bench --duration 20s --collector=false", Argv: []string{".state/bin/bench", "--duration", "20s"},
		Baselines: &Baselines{
			Records: 1000, RecordBytes: 278, KafkaProduce: Throughput{Events: 1000, Seconds: 0.01, PerSec: 100000},
			KafkaConsume: Throughput{PerSec: 400000}, NaiveAvroNs: 6000, EnricherNs: 2400,
			ClickHouseRaw: Throughput{Events: 1000, PerSec: 200000}, ClickHouseStore: Throughput{Events: 1000, PerSec: 180000},
			DedupIDs: 300000, DedupPrefill: 1000000, DedupIndexNs: 4000, DedupIndexWallNs: 3000, DedupWindowNs: 50, DedupIndexBytes: 39 << 20,
		},
		Stages: &Stages{Events: 1000,
			Producer: &StageRun{Throughput: Throughput{PerSec: 50000}, Baseline: 100000, Ratio: 0.5},
			Sink:     &StageRun{Throughput: Throughput{PerSec: 150000}, Baseline: 200000, Ratio: 0.75, StartupSeconds: 0.4},
		},
		EndToEnd: &EndToEnd{Enrichers: 1, Sinks: 1, Sent: 1234567, Landed: 1234567, Distinct: 1234567, ZeroLoss: true,
			PerSec: 42000, Latency: Quantiles{P50: 1, P95: 2, P99: 3, Count: 10},
			HalfRate: &LatencyRun{Rate: 21000, Latency: Quantiles{P50: 0.2, P95: 0.9, P99: 2.0, Count: 10}},
			// 24.69 s of CPU over 1,234,567 events: exactly the 20 µs target.
			Processes:      []ProcReport{{Name: "producer", PeakRSS: 250 << 20, CPUSeconds: 4.69134}, {Name: "enricher", PeakRSS: 90 << 20, CPUSeconds: 10}},
			ServiceCPU:     map[string]float64{"kafka": 4, "clickhouse": 6},
			ClickHouseWork: &ClickHouseWork{InsertedRows: 1234567, WrittenRows: 1300000, MergedRows: 3900000, MergeSeconds: 12},
			DedupBytes:     25 << 20, DedupEvents: 2500000},
		Curve: []ScalePoint{
			{Instances: 1, PartitionsPerInstance: 1, PerSec: 40000, CPUPerEventUs: 30, ZeroLoss: true, Shares: []ProcReport{{Name: "sink", CPUSeconds: 9}}},
			{Instances: 2, PartitionsPerInstance: 4, PerSec: 36000, CPUPerEventUs: 33, ZeroLoss: false},
			{Instances: 2, PartitionsPerInstance: 2, Err: "sink exited"},
		},
	}
	r.Targets = evaluate(r)
	return r
}

func TestEvaluateJudgesEachTargetAtItsBoundary(t *testing.T) {
	got := map[string]bool{}
	for _, v := range evaluate(sampleResults()) {
		got[v.Key] = v.Met
	}
	want := map[string]bool{
		"enricher-vs-naive":   true,  // 2400/6000 = 0.4 ≤ 0.5
		"sink-vs-raw-insert":  false, // 0.75 < 0.8
		"e2e-rate":            false, // 42,000 < 100,000
		"zero-loss":           true,
		"cpu-per-event":       true,  // 24.69134 s / 1,234,567 events = 20 µs, within ≤ 20
		"ch-rewrites":         false, // 3,900,000 merged of 1,300,000 written: 3.0× > 1.5×
		"p99-half-rate":       true,  // exactly 2s is within ≤ 2s
		"scale-1x1-zero-loss": true,
		"scale-2x4-zero-loss": false, // a failed point has no verdict
		"rss-producer":        false,
		"rss-enricher":        true,
	}
	for k, w := range want {
		if m, ok := got[k]; !ok || m != w {
			t.Errorf("target %s: met=%v (present %v), want %v", k, m, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("verdicts %v, want exactly %v", got, want)
	}
}

func TestEvaluateSkipsTargetsWithoutFigures(t *testing.T) {
	if v := evaluate(&Results{}); len(v) != 0 {
		t.Errorf("verdicts without any phase: %v", v)
	}
	r := &Results{EndToEnd: &EndToEnd{HalfRate: &LatencyRun{}}}
	for _, v := range evaluate(r) {
		if v.Key == "p99-half-rate" {
			t.Errorf("p99 judged from a histogram with no observations: %+v", v)
		}
	}
}

func TestRenderAlignsEveryColumn(t *testing.T) {
	r := sampleResults()
	var b strings.Builder
	if err := Render(&b, r, Table(r)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	// Right-aligned values: in every data row the value ends where the header's "value" ends.
	var valueEnd int
	rows := 0
	for _, l := range lines {
		if i := strings.Index(l, "value"); i >= 0 && strings.Contains(l, "baseline") {
			end := utf8.RuneCountInString(l[:i]) + len("value")
			if valueEnd != 0 && end != valueEnd {
				t.Errorf("header value column ends at %d, earlier at %d:\n%s", end, valueEnd, out)
			}
			valueEnd = end
		}
	}
	for _, l := range lines {
		for _, unit := range []string{" ev/s", " ns/ev", " rows/s", " MiB", " s"} {
			if !strings.HasPrefix(l, "  ") {
				continue
			}
			runes := []rune(l)
			if len(runes) < valueEnd || !strings.HasSuffix(string(runes[:valueEnd]), unit) {
				continue
			}
			rows++
		}
	}
	if valueEnd == 0 || rows < 10 {
		t.Fatalf("found %d rows whose value ends under the header (at %d):\n%s", rows, valueEnd, out)
	}
	for _, want := range []string{
		"commit 0123456789ab ",
		"command: scripts/bench --duration 20s --collector=false",
		"≤ 20 µs",         // CPU target
		"≤ 1.5× per row",  // merges target
		"2 inst × 4 part", // the curve
		"0.90×",           // its ratio to 1 × 1
		"failed: sink exited",
		"1,234,567", // thousands separators
		"≥ 0.80×",   // sink target
		"≥ 100,000 ev/s",
		"targets met",
		"0.40×",        // enricher over naive
		"3.0× per row", // ClickHouse merges: 3,900,000 merged of 1,300,000 written
		"80.00×",       // dedup index over the window: 4,000 against 50 ns
		"30.0 MiB/M",   // dedup baseline: 39 MiB for 1,300,000 ids
		"10.0 MiB/M",   // the sinks' indexes: 25 MiB for 2,500,000 events
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "rate ") && !strings.Contains(l, " no ") {
			t.Errorf("the e2e rate row does not say the target was missed: %q", l)
		}
		if strings.HasPrefix(strings.TrimSpace(l), "peak RSS enricher") && !strings.Contains(l, " yes ") {
			t.Errorf("the enricher RSS row does not say the target was met: %q", l)
		}
		if l != strings.TrimRight(l, " ") {
			t.Errorf("trailing blanks in %q", l)
		}
	}
}

func TestWriteJSONHasTheFiguresAndTheRunsContext(t *testing.T) {
	r := sampleResults()
	path := filepath.Join(t.TempDir(), "bench-results.json")
	if err := WriteJSON(path, r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	for _, k := range []string{"commit", "command", "argv", "scale_curve", "time", "gomaxprocs", "nproc", "flags", "baselines", "stages", "end_to_end", "targets"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	e2e := got["end_to_end"].(map[string]any)
	if e2e["per_second"] != 42000.0 || e2e["zero_loss"] != true {
		t.Errorf("end_to_end = %v", e2e)
	}
	if hr := e2e["half_rate"].(map[string]any)["event_to_queryable"].(map[string]any); hr["p99_seconds"] != 2.0 {
		t.Errorf("half-rate latency = %v", hr)
	}
	if _, ok := got["collector"]; ok {
		t.Error("a phase that did not run appears in the JSON")
	}
}

func TestCountGroupsThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
