package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// run is the state of one bench run: what it created, to delete at the end.
type run struct {
	cfg     Config
	log     *slog.Logger
	res     *Results
	reg     *schemas.Registry
	procs   *procs
	admin   *admin
	cluster stream.Cluster // as --kafka-user
	ch      *chClient
	keyDir  string
	// dedupRoot holds each sink's --dedup-dir, named after the sink.
	dedupRoot string

	topics  []string
	groups  []string
	dbs     []string
	dropped int // r.dbs[:dropped] are dropped already (settle)

	// parts overrides --partitions for the phase running (the scale curve).
	parts int
}

// partitions of the raw and clean topics of the phase running.
func (r *run) partitions() int {
	if r.parts > 0 {
		return r.parts
	}
	return r.cfg.Partitions
}

// Run measures the baselines and the pipeline, writes the table to out and the
// results to cfg.Out. Progress goes to log. It returns an error when the
// configuration is bad, the services do not answer, or a phase failed (the
// table and the JSON are written all the same, with what was measured).
func Run(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	start := time.Now()
	cfg = cfg.withDefaults(start)
	if cfg.GeoIP != "" {
		if _, err := os.Stat(cfg.GeoIP); err != nil {
			return fmt.Errorf("--geoip: %w (scripts/bench builds it; --geoip '' runs without IP geolocation)", err)
		}
	}
	reg, err := schemas.Load()
	if err != nil {
		return err
	}
	logDir := filepath.Join(cfg.StateDir, "bench", cfg.TopicPrefix)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("bench: log directory: %w", err)
	}
	keyDir, err := os.MkdirTemp("", "veil-bench-keys-")
	if err != nil {
		return fmt.Errorf("bench: key directory: %w", err)
	}
	defer os.RemoveAll(keyDir)
	dedupRoot, err := os.MkdirTemp("", "veil-bench-sink-dedup-")
	if err != nil {
		return fmt.Errorf("bench: dedup directory: %w", err)
	}
	defer os.RemoveAll(dedupRoot)
	ch, err := openClickHouse(ctx, cfg.chOptions(""), reg)
	if err != nil {
		return err
	}
	defer ch.Close()
	cluster, err := stream.NewCluster(cfg.Brokers, cfg.KafkaUser, cfg.KafkaPassword.Value())
	if err != nil {
		return err
	}
	if err := stream.Ping(cluster)(ctx); err != nil {
		return fmt.Errorf("bench: %w (start it with scripts/kafka start)", err)
	}

	commit, modified := buildCommit()
	r := &run{
		cfg: cfg, log: log, reg: reg, ch: ch, keyDir: keyDir, dedupRoot: dedupRoot, admin: newAdmin(cluster), cluster: cluster,
		procs: &procs{dir: logDir, bin: cfg.BinDir, env: childEnv(os.Environ(), cfg.GOMAXPROCS, cfg.secretEnv()...), log: log, profile: cfg.Profile},
		res: &Results{Commit: commit, Modified: modified, Command: cfg.Command, Argv: cfg.Argv, Time: start, RunID: cfg.TopicPrefix,
			GOMAXPROCS: runtime.GOMAXPROCS(0), NProc: runtime.NumCPU(), Flags: cfg.Flags, LogDir: logDir},
	}
	log.Info("bench run", "command", cfg.Command, "id", cfg.TopicPrefix, "databases", cfg.Database+"_*", "logs", logDir, "commit", commit)

	r.phases(ctx)
	r.procs.stopAll()
	r.cleanup(ctx)

	r.res.Targets = evaluate(r.res)
	werr := WriteJSON(cfg.Out, r.res)
	if err := Render(out, r.res, Table(r.res)); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	log.Info("results written", "file", cfg.Out, "seconds", time.Since(start).Round(time.Second).Seconds())
	if ctx.Err() != nil {
		return fmt.Errorf("bench: interrupted: %w", ctx.Err())
	}
	if len(r.res.Errors) > 0 {
		return fmt.Errorf("bench: %d phase(s) failed: %s", len(r.res.Errors), strings.Join(r.res.Errors, "; "))
	}
	return nil
}

// phases runs what cfg asks for, in order; a failed phase is recorded and the
// next one still runs, until ctx ends.
func (r *run) phases(ctx context.Context) {
	fail := func(phase string, err error) {
		if err != nil {
			r.log.Error("phase failed", "phase", phase, "err", err)
			r.res.Errors = append(r.res.Errors, phase+": "+err.Error())
		}
	}
	if !r.cfg.skip("baselines") && ctx.Err() == nil {
		b, err := r.baselines(ctx)
		r.res.Baselines = b
		fail("baselines", err)
	}
	if !r.cfg.skip("stages") && ctx.Err() == nil {
		r.settle(ctx)
		s, err := r.stages(ctx)
		r.res.Stages = s
		r.linkBaselines()
		fail("stages", err)
	}
	if !r.cfg.skip("e2e") && ctx.Err() == nil {
		r.settle(ctx)
		e, err := r.endToEnd(ctx, "e2e", 1, r.cfg.LatencyDuration > 0)
		r.res.EndToEnd = e
		fail("end to end", err)
		if r.cfg.Scale {
			r.scaleCurve(ctx, fail)
		}
	}
	if r.cfg.Collector && ctx.Err() == nil {
		c, err := r.collector(ctx)
		r.res.Collector = c
		fail("collector", err)
	}
}

// settleTimeout bounds how long settle waits for ClickHouse's merges.
const settleTimeout = time.Minute

// settle keeps one phase's leftovers out of the next phase's figures: it drops
// the databases of the phases before (unless --keep) and waits until ClickHouse
// runs no background merge, for at most settleTimeout. Merging the last phase's
// parts took up to half of ClickHouse's CPU in the next phase.
func (r *run) settle(ctx context.Context) {
	start := time.Now()
	if !r.cfg.Keep {
		for _, db := range r.dbs[r.dropped:] {
			if err := r.ch.dropDatabase(ctx, db); err != nil {
				r.log.Warn("settle: cannot drop a finished phase's database", "err", err)
			}
		}
		r.dropped = len(r.dbs)
	}
	err := poll(ctx, 200*time.Millisecond, settleTimeout, "ClickHouse to finish its merges", func() (bool, error) {
		n, err := r.ch.merges(ctx)
		return err == nil && n == 0, err
	})
	if err != nil {
		r.log.Warn("settle: starting the next phase anyway", "err", err)
		return
	}
	r.log.Info("settled: no merge running", "seconds", time.Since(start).Round(100*time.Millisecond).Seconds())
}

// topicSet names the topics of one phase and creates them.
func (r *run) topicSet(ctx context.Context, phase string) (stream.Topics, error) {
	p := r.cfg.TopicPrefix + "." + phase + "."
	t := stream.Topics{Raw: p + "raw", Clean: p + "clean", Consent: p + "consent", DeadLetter: p + "deadletter"}
	r.topics = append(r.topics, t.Raw, t.Clean, t.Consent, t.DeadLetter)
	if err := stream.EnsureTopics(ctx, r.cluster, r.cfg.Replication.Apply(t.Specs(r.partitions()))); err != nil {
		return t, err
	}
	return t, nil
}

func (r *run) group(phase, stage string) string {
	g := r.cfg.TopicPrefix + "-" + phase + "-" + stage
	r.groups = append(r.groups, g)
	return g
}

func (r *run) database(phase string) string {
	db := r.cfg.Database + "_" + phase
	r.dbs = append(r.dbs, db)
	return db
}

// kafkaArgs are the flags every binary shares. The password is in the
// children's environment (secretEnv), never in argv.
func (r *run) kafkaArgs(t stream.Topics) []string {
	args := []string{"--brokers", r.cfg.Brokers.String(), "--topic-raw", t.Raw, "--topic-clean", t.Clean,
		"--topic-consent", t.Consent, "--topic-deadletter", t.DeadLetter,
		"--partitions", strconv.Itoa(r.partitions()), "--compression", r.cfg.Compression}
	if r.cfg.KafkaUser != "" {
		args = append(args, "--kafka-user", r.cfg.KafkaUser)
	}
	return args
}

// startEnricher starts `enricher run` and waits until it is ready.
func (r *run) startEnricher(ctx context.Context, name string, t stream.Topics, group string) (*Proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"run"}, r.kafkaArgs(t)...)
	args = append(args, "--group", group, "--key-dir", r.keyDir, "--metrics-addr", addr)
	if r.cfg.GeoIP != "" {
		args = append(args, "--geoip", r.cfg.GeoIP)
	}
	if r.cfg.Catalog != "" {
		args = append(args, "--service-catalog", r.cfg.Catalog)
	}
	if r.cfg.EnricherBatch > 0 {
		args = append(args, "--batch-records", strconv.Itoa(r.cfg.EnricherBatch))
	}
	p, err := r.procs.start(ctx, name, "enricher", nil, args...)
	if err != nil {
		return nil, err
	}
	return p, waitReady(ctx, p, addr, time.Minute)
}

// startSink starts `sink run` into db and waits until it is ready (the
// migrations ran).
func (r *run) startSink(ctx context.Context, name string, t stream.Topics, group, db string) (*Proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"run"}, r.kafkaArgs(t)...)
	args = append(args, "--group", group, "--clickhouse-addr", r.cfg.ClickHouseAddr, "--clickhouse-user", r.cfg.CHUser,
		"--clickhouse-db", db, "--clickhouse-compression", r.cfg.CHCompression, "--metrics-addr", addr,
		"--dedup-dir", r.sinkDedupDir(name))
	if r.cfg.ClickHouseCluster != "" {
		args = append(args, "--clickhouse-cluster", r.cfg.ClickHouseCluster)
	}
	if r.cfg.SinkBatch > 0 {
		args = append(args, "--batch-records", strconv.Itoa(r.cfg.SinkBatch))
	}
	p, err := r.procs.start(ctx, name, "sink", nil, args...)
	if err != nil {
		return nil, err
	}
	return p, waitReady(ctx, p, addr, 2*time.Minute)
}

// sinkDedupDir is the --dedup-dir of the sink named name.
func (r *run) sinkDedupDir(name string) string { return filepath.Join(r.dedupRoot, name) }

// simulate runs `producer simulate` with extra flags to its end and returns its summary.
func (r *run) simulate(ctx context.Context, name string, t stream.Topics, extra ...string) (*Proc, SimulateSummary, error) {
	p, err := r.startSimulate(ctx, name, t, extra...)
	if err != nil {
		return nil, SimulateSummary{}, err
	}
	s, err := r.awaitSimulate(ctx, p)
	return p, s, err
}

// startSimulate starts `producer simulate` with extra flags.
func (r *run) startSimulate(ctx context.Context, name string, t stream.Topics, extra ...string) (*Proc, error) {
	args := append(append([]string{"simulate"}, r.kafkaArgs(t)...), extra...)
	return r.procs.start(ctx, name, "producer", nil, args...)
}

// awaitSimulate waits for a started simulation to end and returns its summary.
func (r *run) awaitSimulate(ctx context.Context, p *Proc) (SimulateSummary, error) {
	werr := p.Wait(ctx)
	out, _ := p.Output()
	s, perr := parseSimulate(out)
	if werr != nil {
		return s, fmt.Errorf("%s: %w; last lines of %s:\n%s", p.Name, werr, p.LogPath, p.Tail(8))
	}
	return s, perr
}

// waitAssigned waits until group consumes every partition of topic and returns when.
func (r *run) waitAssigned(ctx context.Context, group, topic string, watch ...*Proc) (time.Time, error) {
	err := poll(ctx, 50*time.Millisecond, 2*time.Minute, "group "+group+" to take every partition of "+topic, func() (bool, error) {
		for _, p := range watch {
			if done, _ := p.Exited(); done {
				return false, p.exitedErr()
			}
		}
		return r.admin.groupAssigned(ctx, group, topic, r.partitions())
	})
	return time.Now(), err
}

// cleanup deletes what the run created, unless --keep. It runs after ctx may have
// ended, on a context of its own.
func (r *run) cleanup(parent context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), time.Minute)
	defer cancel()
	if r.cfg.Keep {
		r.log.Info("kept", "topics", strings.Join(r.topics, ","), "groups", strings.Join(r.groups, ","), "databases", strings.Join(r.dbs, ","))
		return
	}
	var errs []error
	errs = append(errs, r.admin.deleteGroups(ctx, r.groups))
	errs = append(errs, r.admin.deleteTopics(ctx, r.topics))
	for _, db := range r.dbs {
		errs = append(errs, r.ch.dropDatabase(ctx, db))
	}
	if err := errors.Join(errs...); err != nil {
		r.log.Warn("cleanup incomplete", "err", err)
		return
	}
	r.log.Info("cleaned up", "topics", len(r.topics), "groups", len(r.groups), "databases", len(r.dbs))
}

// buildCommit returns the commit the bench was built from and whether the work
// tree had changes, from the build info or else from git.
func buildCommit() (string, bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			return rev, modified
		}
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	status, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(status))) > 0
}

// randomToken returns n random letters and digits.
func randomToken(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
