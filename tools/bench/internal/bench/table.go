package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/veiltelemetry/veil/internal/dedup"
	"github.com/veiltelemetry/veil/internal/stream"
)

// Row of the results table. Empty cells stay blank.
type Row struct {
	Name, Value, Ref, Ratio, Target, Met, Note string
}

// Section is a titled group of rows.
type Section struct {
	Title    string
	Rows     []Row
	NoHeader bool // the title alone, without the column names
}

// Table lays the results out in sections: baselines, stages (ratio to baseline),
// end to end, scale, collector, then how many targets were met.
func Table(r *Results) []Section {
	verdicts := map[string]Verdict{}
	for _, v := range r.Targets {
		verdicts[v.Key] = v
	}
	judge := func(row Row, key string) Row {
		if v, ok := verdicts[key]; ok {
			row.Target, row.Met = v.Target, yesNo(v.Met)
		}
		return row
	}
	var out []Section

	if b := r.Baselines; b != nil {
		s := Section{Title: "BASELINES (in-process, same broker and server)"}
		s.Rows = append(s.Rows,
			Row{Name: "kafka-go produce", Value: perSec(b.KafkaProduce.PerSec, "ev/s"),
				Note: fmt.Sprintf("%s records of %.0f B avg; acks=all, batches of up to %d per partition, 4 writers × 1000", count(b.KafkaProduce.Events), b.RecordBytes, stream.DefaultBatchSize)},
			Row{Name: "kafka-go consume", Value: perSec(b.KafkaConsume.PerSec, "ev/s"),
				Note: "consumer group, FetchMessage, commit every 5000"},
			Row{Name: "goavro naive raw→clean", Value: nsPerEvent(b.NaiveAvroNs),
				Note: "decode, copy the clean fields, encode; 1 goroutine"},
			judge(Row{Name: "enricher Processor.Process", Value: nsPerEvent(b.EnricherNs), Ref: nsPerEvent(b.NaiveAvroNs),
				Ratio: times(b.EnricherRatio()), Note: outcomes(b.EnricherOutcomes)}, "enricher-vs-naive"),
			Row{Name: "clickhouse-go batch insert", Value: perSec(b.ClickHouseRaw.PerSec, "rows/s"),
				Note: fmt.Sprintf("%s rows, PrepareBatch, batches of %s (the sink's)", count(b.ClickHouseRaw.Events), count(int64(b.InsertBatch)))},
			Row{Name: "chstore AppendFlat+Insert", Value: perSec(b.ClickHouseStore.PerSec, "rows/s"), Ref: perSec(b.ClickHouseRaw.PerSec, "rows/s"),
				Ratio: times(ratio(b.ClickHouseStore.PerSec, b.ClickHouseRaw.PerSec)), Note: "the sink's insert path, same rows and tables"},
		)
		if b.DedupIDs > 0 {
			s.Rows = append(s.Rows,
				Row{Name: "dedup index lookup+add", Value: nsPerEvent(b.DedupIndexNs), Ref: nsPerEvent(b.DedupWindowNs),
					Ratio: times(ratio(b.DedupIndexNs, b.DedupWindowNs)),
					Note: fmt.Sprintf("CPU per event, Pebble's flushes and compactions included (wall %s); %s new ids into an index of %s (24 h horizon, %d MiB); baseline: the in-memory window of 100,000 ids per partition it replaced",
						nsPerEvent(b.DedupIndexWallNs), count(int64(b.DedupIDs)), count(int64(b.DedupPrefill)), dedup.DefaultMemory>>20)},
				Row{Name: "dedup index on disk", Value: perMillion(b.DedupIndexBytes, uint64(b.DedupIDs+b.DedupPrefill)),
					Note: fmt.Sprintf("%s for %s ids, flushed", mib(b.DedupIndexBytes), count(int64(b.DedupIDs+b.DedupPrefill)))},
			)
		}
		out = append(out, s)
	}

	if st := r.Stages; st != nil {
		s := Section{Title: fmt.Sprintf("STAGES (each binary alone, %s events)", count(st.Events))}
		stage := func(name, unit, ref string, run *StageRun, key string) {
			if run == nil {
				return
			}
			note := fmt.Sprintf("%.1f s", run.Seconds)
			if run.StartupSeconds > 0 {
				note += fmt.Sprintf(" after %.1f s startup", run.StartupSeconds)
			}
			note = fmt.Sprintf("%s; peak rss %s, cpu %.1f s", note, mib(run.PeakRSS), run.CPUSeconds)
			if run.Note != "" {
				note += "; " + run.Note
			}
			row := Row{Name: name, Value: perSec(run.PerSec, unit), Ratio: times(run.Ratio), Note: note}
			if run.Baseline > 0 {
				row.Ref = ref + " " + perSec(run.Baseline, unit)
			}
			s.Rows = append(s.Rows, judge(row, key))
		}
		stage("producer simulate", "ev/s", "produce", st.Producer, "")
		stage("enricher run", "ev/s", "consume", st.Enricher, "")
		stage("sink run", "ev/s", "insert", st.Sink, "sink-vs-raw-insert")
		out = append(out, s)
	}

	if e := r.EndToEnd; e != nil {
		out = append(out, e2eSection("END TO END (1 enricher, 1 sink)", e, r.NProc, judge, ""))
		if len(e.Profiles) > 0 {
			out = append(out, profileSection(e.Profiles))
		}
	}
	if e := r.Scale; e != nil {
		ref := ""
		if r.EndToEnd != nil {
			ref = perSec(r.EndToEnd.PerSec, "ev/s")
		}
		sec := e2eSection(fmt.Sprintf("SCALE (%d enrichers, %d sinks)", e.Enrichers, e.Sinks), e, r.NProc, judge, "scale-")
		if ref != "" {
			sec.Rows[0].Ref = "1× " + ref
			sec.Rows[0].Ratio = times(ratio(e.PerSec, r.EndToEnd.PerSec))
		}
		out = append(out, sec)
	}

	if len(r.Curve) > 0 {
		out = append(out, curveSection(r.Curve, judge))
	}

	if c := r.Collector; c != nil {
		s := Section{Title: "COLLECTOR (producer loadgen → producer serve)"}
		s.Rows = append(s.Rows,
			Row{Name: "accepted", Value: perSec(c.PerSec, "ev/s"),
				Note: fmt.Sprintf("%s requests, statuses %s, %d errors", count(c.Requests), c.Status, c.Errors)},
			Row{Name: "request latency p50", Value: fmt.Sprintf("%.1f ms", c.P50ms)},
			Row{Name: "request latency p99", Value: fmt.Sprintf("%.1f ms", c.P99ms)},
			judge(Row{Name: "peak RSS collector", Value: mib(c.PeakRSS), Note: fmt.Sprintf("cpu %.1f s", c.CPU)}, "rss-collector"),
		)
		out = append(out, s)
	}

	met := 0
	for _, v := range r.Targets {
		if v.Met {
			met++
		}
	}
	summary := Section{Title: "SUMMARY", NoHeader: true}
	summary.Rows = append(summary.Rows, Row{Name: "targets met", Value: fmt.Sprintf("%d of %d", met, len(r.Targets))})
	for _, e := range r.Errors {
		summary.Rows = append(summary.Rows, Row{Name: "phase failed", Note: e})
	}
	return append(out, summary)
}

func e2eSection(title string, e *EndToEnd, nproc int, judge func(Row, string) Row, prefix string) Section {
	s := Section{Title: title}
	s.Rows = append(s.Rows,
		judge(Row{Name: "rate", Value: perSec(e.PerSec, "ev/s"),
			Note: fmt.Sprintf("%s sent in %.0f s, last queryable after %.1f s", count(e.Sent), e.SendSeconds, e.Seconds)}, prefix+"e2e-rate"),
		judge(Row{Name: "zero loss", Value: passFail(e.ZeroLoss),
			Note: fmt.Sprintf("sent %s, landed %s, distinct %s, failed %d, dead letters %d, dropped %d, duplicates dropped %d",
				count(e.Sent), count(int64(e.Landed)), count(int64(e.Distinct)), e.Failed, e.DeadLetters, e.Dropped, e.Duplicates)}, prefix+"zero-loss"),
		Row{Name: "event→queryable p50", Value: seconds(e.Latency.P50), Note: fmt.Sprintf("at full rate, %d latency markers (a backlog builds: see half rate)", e.Markers)},
		Row{Name: "event→queryable p95", Value: seconds(e.Latency.P95)},
		Row{Name: "event→queryable p99", Value: seconds(e.Latency.P99), Note: bucketNote(e.Latency)},
	)
	if h := e.HalfRate; h != nil {
		s.Rows = append(s.Rows,
			Row{Name: "half rate p50", Value: seconds(h.Latency.P50),
				Note: fmt.Sprintf("--rate %.0f for %.0f s: %s sent, %s landed", h.Rate, h.Seconds, count(h.Sent), count(int64(h.Landed)))},
			Row{Name: "half rate p95", Value: seconds(h.Latency.P95)},
			judge(Row{Name: "half rate p99", Value: seconds(h.Latency.P99), Note: bucketNote(h.Latency)}, prefix+"p99-half-rate"),
		)
		if h.MachineBusy > 0 {
			s.Rows = append(s.Rows, Row{Name: "half rate machine busy", Value: fmt.Sprintf("%.0f cpu s", h.MachineBusy),
				Note: fmt.Sprintf("all cores during the half-rate run; everything but the run's processes about %.0f s", h.OthersCPU)})
		}
	}
	for _, p := range e.Processes {
		s.Rows = append(s.Rows, judge(Row{Name: "peak RSS " + p.Name, Value: mib(p.PeakRSS),
			Note: fmt.Sprintf("cpu %.1f s", p.CPUSeconds)}, prefix+"rss-"+p.Name))
	}
	if parts, total := e.CPUPerEvent(); total > 0 && nproc > 0 {
		shares := make([]string, len(parts))
		for i, p := range parts {
			shares[i] = fmt.Sprintf("%s %.1f", p.Name, p.CPUSeconds)
		}
		s.Rows = append(s.Rows, judge(Row{Name: "CPU per event", Value: fmt.Sprintf("%.1f µs", total),
			Note: fmt.Sprintf("%s µs; at this cost %d cores carry %s ev/s", strings.Join(shares, ", "), nproc, count(int64(float64(nproc)*1e6/total)))}, prefix+"cpu-per-event"))
	}
	if e.MachineBusy > 0 && e.Seconds > 0 {
		others := e.OthersCPU()
		s.Rows = append(s.Rows, Row{Name: "machine busy", Value: fmt.Sprintf("%.0f cpu s", e.MachineBusy),
			Note: fmt.Sprintf("all cores over the %.0f s from the start of sending to the last event queryable (%.0f%% of %d cores); the run's processes %.0f s, everything else on the machine about %.0f s",
				e.Seconds, 100*e.MachineBusy/(e.Seconds*float64(max(nproc, 1))), nproc, e.MachineBusy-others, others)})
	}
	if e.DedupEvents > 0 {
		s.Rows = append(s.Rows, Row{Name: "sink dedup index on disk", Value: perMillion(e.DedupBytes, e.DedupEvents),
			Note: fmt.Sprintf("%s holding %s events, the --dedup-dir of every sink once stopped (24 h horizon: nothing expired yet)", mib(e.DedupBytes), count(int64(e.DedupEvents)))})
	}
	if w := e.ClickHouseWork; w != nil && w.WrittenRows > 0 {
		s.Rows = append(s.Rows, judge(Row{Name: "ClickHouse merges", Value: fmt.Sprintf("%.1f× per row", w.MergesPerRow()),
			Note: fmt.Sprintf("%s rows inserted, %s written to new parts (rollups included), %s merged in %.0f s of merge threads",
				count(int64(w.InsertedRows)), count(int64(w.WrittenRows)), count(int64(w.MergedRows)), w.MergeSeconds)}, prefix+"ch-rewrites"))
	}
	s.Rows = append(s.Rows,
		Row{Name: "consumer lag at end", Value: fmt.Sprintf("%d + %d", e.LagEnricher, e.LagSink),
			Note: fmt.Sprintf("committed offsets behind the end: enricher + sink; lag gauges %.0f", e.LagGauges)},
		Row{Name: "log warnings/errors", Value: fmt.Sprintf("%d / %d", e.LogWarnings, e.LogErrors), Note: "WARN and ERROR lines of the binaries"},
	)
	return s
}

// profileSection lists, per binary, where its CPU went in the full-rate run.
func profileSection(ps []Profile) Section {
	s := Section{Title: fmt.Sprintf("PROFILES (full-rate run, %.0f s of CPU samples; heaviest functions by own time)", ps[0].Seconds)}
	for _, p := range ps {
		if p.Err != "" {
			s.Rows = append(s.Rows, Row{Name: p.Proc, Note: "no profile: " + p.Err})
			continue
		}
		tops := make([]string, len(p.Top))
		for i, f := range p.Top {
			tops[i] = fmt.Sprintf("%s %.0f%%", shortFunc(f.Func), 100*f.Flat)
		}
		s.Rows = append(s.Rows,
			Row{Name: p.Proc, Value: fmt.Sprintf("%.1f cpu s", p.CPUSeconds), Note: fmt.Sprintf("GC %.0f%%; go tool pprof -top %s", 100*p.GC, p.CPUFile)},
			Row{Note: strings.Join(tops, ", ")})
	}
	return s
}

// Render writes the header and the sections as one aligned plain-text table.
func Render(w io.Writer, r *Results, sections []Section) error {
	commit := r.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if r.Modified {
		commit += " (modified)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "veil bench %s  commit %s  GOMAXPROCS %d  nproc %d\n", r.Time.UTC().Format("2006-01-02T15:04:05Z"), commit, r.GOMAXPROCS, r.NProc)
	var flags []string
	for _, k := range []string{"partitions", "compression", "duration", "latency-duration", "baseline-events", "enricher-batch", "sink-batch", "gomaxprocs"} {
		if v, ok := r.Flags[k]; ok {
			flags = append(flags, k+"="+v)
		}
	}
	if len(flags) > 0 {
		fmt.Fprintf(&b, "flags: %s\n", strings.Join(flags, " "))
	}
	if r.Command != "" {
		fmt.Fprintf(&b, "command: %s\n", r.Command)
	}

	head := Row{Name: "", Value: "value", Ref: "baseline", Ratio: "ratio", Target: "target", Met: "met", Note: "notes"}
	cols := func(r Row) []string { return []string{r.Name, r.Value, r.Ref, r.Ratio, r.Target, r.Met, r.Note} }
	width := make([]int, 7)
	for _, c := range [][]string{cols(head)} {
		for i, cell := range c {
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	for _, s := range sections {
		for _, row := range s.Rows {
			for i, cell := range cols(row) {
				n := utf8.RuneCountInString(cell)
				if i == 0 {
					n += 2 // indented under the section title
				}
				width[i] = max(width[i], n)
			}
		}
	}
	rightAligned := []bool{false, true, true, true, false, false, false}
	line := func(c []string, indent string) {
		var l strings.Builder
		for i, cell := range c {
			if i == 0 {
				cell = indent + cell
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				l.WriteString("  ")
			}
			if rightAligned[i] {
				l.WriteString(pad + cell)
			} else if i < len(c)-1 {
				l.WriteString(cell + pad)
			} else {
				l.WriteString(cell)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	for _, s := range sections {
		b.WriteString("\n")
		h := cols(head)
		h[0] = s.Title
		switch {
		case s.NoHeader:
			b.WriteString(s.Title + "\n")
		case utf8.RuneCountInString(s.Title) > width[0]:
			b.WriteString(s.Title + "\n")
			h[0] = ""
			line(h, "")
		default:
			line(h, "")
		}
		for _, row := range s.Rows {
			line(cols(row), "  ")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// count formats n with thousands separators: 1234567 → 1,234,567.
func count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func perSec(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return count(int64(math.Round(v))) + " " + unit
}

func nsPerEvent(ns float64) string { return count(int64(math.Round(ns))) + " ns/ev" }

func times(r float64) string {
	if r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f×", r)
}

func seconds(s float64) string { return fmt.Sprintf("%.3f s", s) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// perMillion is bytes per million of n, in MiB.
func perMillion(bytes int64, n uint64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB/M", float64(bytes)/float64(n)*1e6/(1<<20))
}

func outcomes(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	return fmt.Sprintf("one pass: %d clean, %d dead letters, %d dropped", m["clean"], m["deadletter"], m["dropped"])
}

func bucketNote(q Quantiles) string {
	lo, hi := q.P99Bucket[0], q.P99Bucket[1]
	if hi == 0 {
		return ""
	}
	if lo == hi {
		return fmt.Sprintf("beyond the last bucket: more than %g s", hi)
	}
	return fmt.Sprintf("interpolated in the bucket %g–%g s", lo, hi)
}
