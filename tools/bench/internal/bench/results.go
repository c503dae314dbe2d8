package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Results of one run: written as JSON (--out) and rendered as the table.
type Results struct {
	Commit     string            `json:"commit"`
	Modified   bool              `json:"modified"` // the binaries were built from a work tree with changes
	Command    string            `json:"command"`  // the command line as typed (scripts/bench passes it), else the tool's own
	Argv       []string          `json:"argv"`     // the tool's own arguments, every flag scripts/bench added
	Time       time.Time         `json:"time"`
	RunID      string            `json:"run_id"`
	GOMAXPROCS int               `json:"gomaxprocs"` // of the bench process
	NProc      int               `json:"nproc"`
	Flags      map[string]string `json:"flags"`
	LogDir     string            `json:"log_dir"`
	Baselines  *Baselines        `json:"baselines,omitempty"`
	Stages     *Stages           `json:"stages,omitempty"`
	EndToEnd   *EndToEnd         `json:"end_to_end,omitempty"`
	Scale      *EndToEnd         `json:"scale,omitempty"` // the curve's point of 2 instances at --partitions
	Curve      []ScalePoint      `json:"scale_curve,omitempty"`
	Collector  *CollectorLoad    `json:"collector,omitempty"`
	Targets    []Verdict         `json:"targets"`
	Errors     []string          `json:"errors,omitempty"` // phases that failed, and why
}

// Throughput is events (or rows) over seconds.
type Throughput struct {
	Events  int64   `json:"events"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_second"`
}

func throughput(n int64, d time.Duration) Throughput {
	return Throughput{Events: n, Seconds: d.Seconds(), PerSec: float64(n) / max(d.Seconds(), 1e-9)}
}

// Baselines are what the libraries do on their own, in the bench process.
type Baselines struct {
	Records          int              `json:"records"`
	RecordBytes      float64          `json:"record_bytes_avg"` // encoded raw event, single-object Avro
	KafkaProduce     Throughput       `json:"kafka_produce"`
	KafkaConsume     Throughput       `json:"kafka_consume"`
	NaiveAvroNs      float64          `json:"naive_goavro_ns_per_event"`
	EnricherNs       float64          `json:"enricher_ns_per_event"`
	NaiveEvents      int64            `json:"naive_goavro_events"`
	EnricherEvents   int64            `json:"enricher_events"`
	EnricherOutcomes map[string]int64 `json:"enricher_outcomes"` // of one pass over the records
	ClickHouseRaw    Throughput       `json:"clickhouse_raw_insert"`
	ClickHouseStore  Throughput       `json:"chstore_insert"`
	InsertBatch      int              `json:"insert_batch_rows"` // rows per INSERT of both: the sink's --batch-records
	// The sink's dedup index alone: DedupIDs new ids looked up and added into an
	// index already holding DedupPrefill, per event: CPU of the bench process
	// (Pebble's flushes and compactions included) and wall time; the baseline is
	// the in-memory window it replaced, on the same ids.
	DedupIDs         int     `json:"dedup_ids"`
	DedupPrefill     int     `json:"dedup_prefill_ids"`
	DedupIndexNs     float64 `json:"dedup_index_cpu_ns_per_event"`
	DedupIndexWallNs float64 `json:"dedup_index_wall_ns_per_event"`
	DedupWindowNs    float64 `json:"dedup_window_cpu_ns_per_event"`
	DedupIndexBytes  int64   `json:"dedup_index_bytes"` // on disk, holding DedupPrefill + DedupIDs ids
}

// EnricherRatio is the enricher's time per event over the naive conversion's.
func (b *Baselines) EnricherRatio() float64 { return ratio(b.EnricherNs, b.NaiveAvroNs) }

// StageRun is one binary alone on a filled topic.
type StageRun struct {
	Throughput
	Baseline       float64 `json:"baseline_per_second"`
	Ratio          float64 `json:"ratio"`           // PerSec / Baseline
	StartupSeconds float64 `json:"startup_seconds"` // from start until it consumed (group joined)
	PeakRSS        int64   `json:"peak_rss_bytes"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	Note           string  `json:"note,omitempty"` // what the figure includes that the baseline does not
}

// Stages are the stage-isolated runs of the real binaries.
type Stages struct {
	Events   int64     `json:"events"`
	Producer *StageRun `json:"producer,omitempty"`
	Enricher *StageRun `json:"enricher,omitempty"`
	Sink     *StageRun `json:"sink,omitempty"`
}

// ProcReport is the usage of one process.
type ProcReport struct {
	Name       string  `json:"name"`
	PeakRSS    int64   `json:"peak_rss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

// LatencyRun is the run at a fixed rate below the maximum.
type LatencyRun struct {
	Rate    float64   `json:"rate"` // asked of the producer, events/s
	Seconds float64   `json:"seconds"`
	Sent    int64     `json:"sent"`
	Landed  uint64    `json:"landed"`
	Latency Quantiles `json:"event_to_queryable"`
	// MachineBusy and OthersCPU are the CPU seconds all cores spent busy
	// during the run, and the part of it that went to anything but the
	// pipeline's processes, Kafka and ClickHouse: what other work took.
	MachineBusy float64 `json:"machine_busy_cpu_seconds,omitempty"`
	OthersCPU   float64 `json:"others_cpu_seconds,omitempty"`
}

// EndToEnd is the whole pipeline under the producer at full speed.
type EndToEnd struct {
	Enrichers       int          `json:"enrichers"`
	Partitions      int          `json:"partitions"` // of the raw and clean topics
	Sinks           int          `json:"sinks"`
	SendSeconds     float64      `json:"send_seconds"` // producer simulate --duration
	Sent            int64        `json:"sent"`         // acknowledged by Kafka
	Failed          int64        `json:"failed"`
	Landed          uint64       `json:"landed"`   // count() over the event tables
	Distinct        uint64       `json:"distinct"` // uniqExact(event_id)
	DeadLetters     int64        `json:"dead_letters"`
	Dropped         int64        `json:"dropped"`
	Duplicates      int64        `json:"sink_duplicates_dropped"`
	ZeroLoss        bool         `json:"zero_loss"`
	Seconds         float64      `json:"seconds"` // start of sending until the last event was queryable
	PerSec          float64      `json:"per_second"`
	Markers         int64        `json:"latency_markers"`    // marker events written by the bench's prober (they land too)
	Latency         Quantiles    `json:"event_to_queryable"` // of the markers, from Kafka's acknowledgement to a row
	HalfRate        *LatencyRun  `json:"half_rate,omitempty"`
	Processes       []ProcReport `json:"processes"`
	LagEnricher     int64        `json:"lag_enricher"` // committed offsets behind the end of the raw topic
	LagSink         int64        `json:"lag_sink"`     // committed offsets behind the end of the clean topic
	LagGauges       float64      `json:"lag_gauges"`   // veil_enricher_consumer_lag + veil_sink_consumer_lag
	LogWarnings     int          `json:"log_warnings"` // WARN lines in the binaries' logs
	LogErrors       int          `json:"log_errors"`   // ERROR lines
	LandedInSeconds float64      `json:"drain_seconds"`
	Profiles        []Profile    `json:"profiles,omitempty"` // of the full-rate run, with --profile
	// ServiceCPU is the CPU seconds local Kafka and ClickHouse processes used
	// from the start of sending until the last event was queryable.
	ServiceCPU map[string]float64 `json:"service_cpu_seconds,omitempty"`
	// MachineBusy is the CPU seconds every core of the machine spent busy over
	// the same span, whoever used them: beside CPUPerEvent it shows what other
	// work shared the cores.
	MachineBusy float64 `json:"machine_busy_cpu_seconds,omitempty"`
	// ClickHouseWork is what the server wrote over the same span.
	ClickHouseWork *ClickHouseWork `json:"clickhouse_work,omitempty"`
	// DedupBytes is the disk space of the sinks' dedup indexes once they
	// stopped (memtables flushed), holding DedupEvents events: every event
	// landed, full and half rate, all within the 24 h horizon.
	DedupBytes  int64  `json:"dedup_index_bytes"`
	DedupEvents uint64 `json:"dedup_index_events"`
}

// ClickHouseWork is the write work of the ClickHouse server over a run, from
// its system.events counters (server-wide: the bench settles the server first,
// so the run's own inserts and merges are what they count).
type ClickHouseWork struct {
	InsertedRows uint64  `json:"inserted_rows"` // rows INSERTed
	WrittenRows  uint64  `json:"written_rows"`  // rows written to new parts, the rollups' too
	MergedRows   uint64  `json:"merged_rows"`   // rows read by background merges
	MergeSeconds float64 `json:"merge_seconds"` // time the merges took, summed over merge threads
}

// MergesPerRow is how many times merges rewrote each row written to a new part.
func (w *ClickHouseWork) MergesPerRow() float64 {
	if w.WrittenRows == 0 {
		return 0
	}
	return float64(w.MergedRows) / float64(w.WrittenRows)
}

// OthersCPU is the CPU seconds the machine spent on anything but the run's
// processes (binaries, Kafka, ClickHouse) over the same span as MachineBusy.
func (e *EndToEnd) OthersCPU() float64 {
	ours := 0.0
	for _, p := range e.Processes {
		ours += p.CPUSeconds
	}
	for _, c := range e.ServiceCPU {
		ours += c
	}
	return max(0, e.MachineBusy-ours)
}

// CPUPerEvent returns the CPU microseconds each binary and service spent per
// event sent in the full-rate run, and their sum. The binaries' CPU is their
// whole life's, which the full-rate run dominates.
func (e *EndToEnd) CPUPerEvent() (parts []ProcReport, total float64) {
	if e.Sent == 0 {
		return nil, 0
	}
	add := func(name string, secs float64) {
		us := secs / float64(e.Sent) * 1e6
		parts = append(parts, ProcReport{Name: name, CPUSeconds: us})
		total += us
	}
	for _, p := range e.Processes {
		add(p.Name, p.CPUSeconds)
	}
	for _, name := range []string{"kafka", "clickhouse"} {
		if secs, ok := e.ServiceCPU[name]; ok {
			add(name, secs)
		}
	}
	return parts, total
}

// CollectorLoad is producer loadgen against producer serve.
type CollectorLoad struct {
	PerSec   float64 `json:"accepted_per_second"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Requests int64   `json:"requests"`
	Accepted int64   `json:"accepted"`
	Rejected int64   `json:"rejected"`
	Errors   int64   `json:"errors"`
	Status   string  `json:"status"`
	PeakRSS  int64   `json:"peak_rss_bytes"` // of producer serve, VmHWM
	CPU      float64 `json:"cpu_seconds"`
}

// Verdict says whether one target was met.
type Verdict struct {
	Key    string `json:"key"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Met    bool   `json:"met"`
}

// ScalePoint is one end-to-end run of the scale curve (--scale).
type ScalePoint struct {
	Instances             int          `json:"instances"`               // enrichers, and as many sinks
	PartitionsPerInstance int          `json:"partitions_per_instance"` // of the raw and of the clean topic
	PerSec                float64      `json:"per_second"`
	CPUPerEventUs         float64      `json:"cpu_us_per_event"` // every process, Kafka and ClickHouse included
	Shares                []ProcReport `json:"cpu_us_per_event_by_process"`
	ZeroLoss              bool         `json:"zero_loss"`
	// OthersCPU is the CPU seconds the machine spent on anything but the run's
	// processes while the point ran, and Seconds how long it ran.
	OthersCPU float64 `json:"others_cpu_seconds"`
	Seconds   float64 `json:"seconds"`
	Err       string  `json:"error,omitempty"`
}

// The targets.
const (
	targetCPUPerEvent   = 20.0      // µs of CPU per event summed over every process, at most
	targetRewrites      = 1.5       // rows ClickHouse's merges rewrite per row written, at most
	targetE2ERate       = 100_000.0 // events/s end to end
	targetEnricherRatio = 0.5       // enricher ns/event over naive goavro's, at most
	targetSinkRatio     = 0.8       // sink stage rate over raw clickhouse-go insert, at least
	targetP99           = 2.0       // seconds, p99 event-to-queryable at half rate, at most
	targetRSS           = 200 << 20 // bytes, peak RSS of each binary, at most
)

// evaluate returns the verdict on every target the results have figures for.
func evaluate(r *Results) []Verdict {
	var out []Verdict
	add := func(key, target, value string, met bool) {
		out = append(out, Verdict{Key: key, Target: target, Value: value, Met: met})
	}
	if b := r.Baselines; b != nil && b.NaiveAvroNs > 0 {
		add("enricher-vs-naive", fmt.Sprintf("≤ %.2f×", targetEnricherRatio), fmt.Sprintf("%.2f×", b.EnricherRatio()), b.EnricherRatio() <= targetEnricherRatio)
	}
	if s := r.Stages; s != nil && s.Sink != nil && s.Sink.Baseline > 0 {
		add("sink-vs-raw-insert", fmt.Sprintf("≥ %.2f×", targetSinkRatio), fmt.Sprintf("%.2f×", s.Sink.Ratio), s.Sink.Ratio >= targetSinkRatio)
	}
	if e := r.EndToEnd; e != nil {
		add("e2e-rate", "≥ "+perSec(targetE2ERate, "ev/s"), perSec(e.PerSec, "ev/s"), e.PerSec >= targetE2ERate)
		add("zero-loss", "sent = landed", passFail(e.ZeroLoss), e.ZeroLoss)
		if _, total := e.CPUPerEvent(); total > 0 {
			add("cpu-per-event", fmt.Sprintf("≤ %.0f µs", targetCPUPerEvent), fmt.Sprintf("%.1f µs", total), total <= targetCPUPerEvent)
		}
		if w := e.ClickHouseWork; w != nil && w.WrittenRows > 0 {
			add("ch-rewrites", fmt.Sprintf("≤ %.1f× per row", targetRewrites), fmt.Sprintf("%.1f×", w.MergesPerRow()), w.MergesPerRow() <= targetRewrites)
		}
		if h := e.HalfRate; h != nil && h.Latency.Count > 0 {
			add("p99-half-rate", fmt.Sprintf("≤ %.0f s", targetP99), seconds(h.Latency.P99), h.Latency.P99 <= targetP99)
		}
		for _, p := range e.Processes {
			add("rss-"+p.Name, fmt.Sprintf("≤ %d MiB", targetRSS>>20), mib(p.PeakRSS), p.PeakRSS <= targetRSS)
		}
	}
	for _, p := range r.Curve {
		if p.Err == "" {
			add(fmt.Sprintf("scale-%dx%d-zero-loss", p.Instances, p.PartitionsPerInstance), "sent = landed", passFail(p.ZeroLoss), p.ZeroLoss)
		}
	}
	if c := r.Collector; c != nil && c.PeakRSS > 0 {
		add("rss-collector", fmt.Sprintf("≤ %d MiB", targetRSS>>20), mib(c.PeakRSS), c.PeakRSS <= targetRSS)
	}
	return out
}

// WriteJSON writes r to path, indented.
func WriteJSON(path string, r *Results) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: results to JSON: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write results: %w", err)
	}
	return nil
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
