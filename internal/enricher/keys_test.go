package enricher

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veiltelemetry/veil/internal/pseudonym"
)

// fakeClock is a settable Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// metric returns the value of the gauge or counter name whose labels include
// labels (name, value pairs), and whether the registry has it.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// The enricher's key rotation runs on its timer: once the clock has moved past
// the retention, the old keys are destroyed with nobody running `enricher keys
// rotate`, and the metrics show it: the oldest key's age falls back, the
// destroyed keys are counted.
func TestKeyRotationRunsOnItsTimerAndIsMeasured(t *testing.T) {
	const day = 24 * time.Hour
	c := &fakeClock{t: time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)}
	keys, err := pseudonym.Open(pseudonym.Config{Dir: filepath.Join(t.TempDir(), "keys"), Period: day, Retention: 2, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	km, err := newKeyMetrics(reg, keys)
	if err != nil {
		t.Fatal(err)
	}
	km.now = c.Now
	if _, ok := metric(t, reg, "veil_enricher_pseudonym_oldest_key_age_seconds"); ok {
		t.Error("oldest key age exported while there is no key")
	}
	rot, err := keys.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	km.observe(rot, nil)
	e0 := rot.Current
	if n, _ := metric(t, reg, "veil_enricher_pseudonym_keys"); n != 2 {
		t.Errorf("keys = %v after the first rotation, want 2", n)
	}
	c.Add(3 * day) // the keys of e0 and e0+1 are now past the retention of 2 epochs
	if age, _ := metric(t, reg, "veil_enricher_pseudonym_oldest_key_age_seconds"); age != (3 * day).Seconds() {
		t.Errorf("oldest key age = %vs before the timer ran, want %vs", age, (3 * day).Seconds())
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- km.rotateEvery(ctx, 5*time.Millisecond, slog.New(slog.DiscardHandler)) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := metric(t, reg, "veil_enricher_pseudonym_keys_destroyed_total"); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the timer to destroy the two old keys")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("rotation loop returned %v when its context ended", err)
	}
	if got, _ := keys.Epochs(); len(got) != 2 || got[0] != e0+3 || got[1] != e0+4 {
		t.Errorf("epochs with a key = %v, want %d and %d", got, e0+3, e0+4)
	}
	if age, _ := metric(t, reg, "veil_enricher_pseudonym_oldest_key_age_seconds"); age != 0 {
		t.Errorf("oldest key age = %vs after rotation, want 0 (both keys made now)", age)
	}
	if n, _ := metric(t, reg, "veil_enricher_pseudonym_keys_created_total"); n != 4 {
		t.Errorf("keys created = %v, want 4 (two at the first rotation, two on the timer)", n)
	}
	if n, _ := metric(t, reg, "veil_enricher_pseudonym_key_rotations_total", "result", "failed"); n != 0 {
		t.Errorf("failed rotations = %v, want 0", n)
	}
	if _, err := keys.PseudonymAt(e0, "installation_id", "srv-1"); err == nil {
		t.Error("the pseudonyms of a destroyed epoch can still be computed")
	}
}

// A rotation that fails is counted and logged, and the loop goes on: the next
// rotation runs, and what can be done is done.
func TestAFailedKeyRotationDoesNotStopTheEnricher(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)}
	dir := filepath.Join(t.TempDir(), "keys")
	keys, err := pseudonym.Open(pseudonym.Config{Dir: dir, Period: 24 * time.Hour, Retention: 2, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	// A directory where a key file of an old epoch is expected: it cannot be
	// overwritten, nor removed while it holds a file.
	if err := os.MkdirAll(filepath.Join(dir, "epoch-7.key", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	km, err := newKeyMetrics(reg, keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go km.rotateEvery(ctx, 5*time.Millisecond, slog.New(slog.DiscardHandler))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := metric(t, reg, "veil_enricher_pseudonym_key_rotations_total", "result", "failed"); n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for two failed rotations")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, _ := keys.Epochs(); len(got) != 2 {
		t.Errorf("epochs with a key = %v; the failing rotations should still make the current and next keys", got)
	}
}

// The enricher's metrics registered twice in one registry are an error, not a
// panic.
func TestMetricRegistrationErrorsAreReturned(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := newMetrics(reg); err == nil {
		t.Error("newMetrics registered the same metrics twice without an error")
	}
	keys, err := pseudonym.Open(pseudonym.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newKeyMetrics(reg, keys); err != nil {
		t.Fatal(err)
	}
	if _, err := newKeyMetrics(reg, keys); err == nil {
		t.Error("newKeyMetrics registered the same metrics twice without an error")
	}
}
