package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestChildEnvDropsVeilVariablesAndSetsGOMAXPROCS(t *testing.T) {
	parent := []string{"PATH=/bin", "VEIL_BROKERS=10.0.0.1:9092", "VEIL_KEY_DIR=/keys", "GOMAXPROCS=8", "HOME=/root"}
	got := childEnv(parent, 2, "VEIL_TOKEN=x")
	want := []string{"PATH=/bin", "HOME=/root", "GOMAXPROCS=2", "VEIL_TOKEN=x"}
	if !slices.Equal(got, want) {
		t.Errorf("childEnv = %q, want %q", got, want)
	}
	got = childEnv(parent, 0)
	if !slices.Contains(got, "GOMAXPROCS=8") || slices.Contains(got, "VEIL_BROKERS=10.0.0.1:9092") {
		t.Errorf("without --gomaxprocs: %q; want the caller's GOMAXPROCS kept and VEIL_* dropped", got)
	}
}

func TestLogProblemsCountsWarningsAndErrorsInTextAndJSONLogs(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "sink.log")
	js := filepath.Join(dir, "enricher.log")
	os.WriteFile(text, []byte("time=x level=INFO msg=a\ntime=x level=WARN msg=\"batch failed; retrying\"\ntime=x level=ERROR msg=b\n"), 0o644)
	os.WriteFile(js, []byte(`{"time":"x","level":"WARN","msg":"a"}`+"\n"+`{"time":"x","level":"INFO","msg":"level=WARN in a message is not a warning line of its own"}`+"\n"), 0o644)
	w, e := logProblems(text, js, filepath.Join(dir, "missing.log"))
	if w != 2 || e != 1 {
		t.Errorf("logProblems = %d warnings, %d errors; want 2 and 1 (a message quoting level=WARN is no warning)", w, e)
	}
}

// A child's peak RSS is its own, not the bench's: rusage's ru_maxrss would
// report the parent's resident memory, which the child shared until exec.
func TestPeakRSSIsTheChildsOwn(t *testing.T) {
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	ps := &procs{dir: t.TempDir(), bin: "/bin", log: slog.New(slog.DiscardHandler)}
	p, err := ps.start(context.Background(), "sleeper", "sleep", nil, "0.6")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := p.Usage()
	if u.PeakRSS <= 0 || u.PeakRSS > 64<<20 {
		t.Errorf("peak RSS of sleep is %d MiB; want its own few MiB, not the test's 256 MiB ballast", u.PeakRSS>>20)
	}
	runtime.KeepAlive(ballast)
}
