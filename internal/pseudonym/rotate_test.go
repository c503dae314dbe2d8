package pseudonym_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/pseudonym"
)

func keyFile(dir string, epoch int64) string {
	return filepath.Join(dir, "epoch-"+strconv.FormatInt(epoch, 10)+".key")
}

// Epoch numbers depend on the period: after --key-period changes, the numbers of
// the keys left by the earlier period mean other times, earlier or later ones.
// Rotation under the new period destroys all of them, makes the current and next
// keys of the new period, and the pseudonyms made with the old keys can no longer
// be recomputed.
func TestRotateDestroysTheKeysOfAnEarlierPeriod(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to time.Duration
	}{
		{"30 days to 1 day: the old numbers are far in the past", 720 * time.Hour, 24 * time.Hour},
		{"1 day to 30 days: the old numbers are far in the future", 24 * time.Hour, 720 * time.Hour},
		{"30 days to 31 days: the old numbers are some epochs ahead", 720 * time.Hour, 744 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			c := &clock{t: time.Date(2026, 11, 24, 13, 19, 5, 0, time.UTC)}
			before, err := pseudonym.Open(pseudonym.Config{Dir: dir, Period: tt.from, Retention: 3, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			old := pseudonymOf(t, before, "installation_id", "srv-1")
			if _, err := before.Rotate(); err != nil {
				t.Fatal(err)
			}
			e := before.Epoch(c.Now())
			oldKeys := readKeys(t, dir)
			if len(oldKeys) != 2 {
				t.Fatalf("keys under %s: %v, want the current and the next", tt.from, oldKeys)
			}

			c.Add(time.Hour)
			after, err := pseudonym.Open(pseudonym.Config{Dir: dir, Period: tt.to, Retention: 3, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			r, err := after.Rotate()
			if err != nil {
				t.Fatal(err)
			}
			cur := after.Epoch(c.Now())
			want := pseudonym.Rotation{Current: cur, Created: []int64{cur, cur + 1}, Destroyed: []int64{e, e + 1}}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("Rotate under %s = %+v, want %+v", tt.to, r, want)
			}
			if got, _ := after.Epochs(); !reflect.DeepEqual(got, []int64{cur, cur + 1}) {
				t.Errorf("Epochs() = %v, want the current epoch %d and the next", got, cur)
			}
			for name, content := range readKeys(t, dir) {
				for oldName, oldContent := range oldKeys {
					if content == oldContent {
						t.Errorf("%s holds the key that was %s", name, oldName)
					}
				}
			}
			// Nobody can recompute the old pseudonyms: not a store with the old
			// period, not the one that made them.
			again, err := pseudonym.Open(pseudonym.Config{Dir: dir, Period: tt.from, Retention: 3, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []*pseudonym.Store{before, again} {
				if got, err := s.PseudonymAt(e, "installation_id", "srv-1"); !errors.Is(err, pseudonym.ErrNoKey) || got != "" {
					t.Errorf("PseudonymAt(%d) after the period changed = %q, %v; want ErrNoKey", e, got, err)
				}
			}
			if p := pseudonymOf(t, after, "installation_id", "srv-1"); p == old {
				t.Errorf("the new period gave the old pseudonym %q", p)
			}
		})
	}
}

// A key file bearing the current epoch's number but made long before that epoch
// (by a store with another period, or restored from a backup of another epoch) is
// not the current key: Rotate destroys it and makes one, and a store that held
// it in memory forgets it.
func TestRotateDestroysAKeyMadeOutsideItsEpoch(t *testing.T) {
	s, c, dir := newStore(t) // Retention 2
	cur := s.Epoch(c.Now())
	p := pseudonymOf(t, s, "installation_id", "srv-1")
	made := c.Now().Add(-3 * period)
	if err := os.Chtimes(keyFile(dir, cur), made, made); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if want := (pseudonym.Rotation{Current: cur, Created: []int64{cur, cur + 1}, Destroyed: []int64{cur}}); !reflect.DeepEqual(r, want) {
		t.Errorf("Rotate = %+v, want %+v", r, want)
	}
	if q := pseudonymOf(t, s, "installation_id", "srv-1"); q == p {
		t.Errorf("the store still uses the destroyed key: pseudonym %q", q)
	}
	// The keys Rotate makes are made in their span: a second Rotate keeps them.
	if r, err := s.Rotate(); err != nil || len(r.Destroyed)+len(r.Created) != 0 {
		t.Errorf("second Rotate = %+v, %v; want nothing to do", r, err)
	}
}

// Keys of epochs after the next one are destroyed too: they were made under a
// clock that ran ahead, or by another period.
func TestRotateDestroysKeysAfterTheNextEpoch(t *testing.T) {
	s, c, dir := newStore(t)
	cur := s.Epoch(c.Now())
	future := time.Unix((cur+2)*int64(period/time.Second), 0)
	c.Set(future)
	pseudonymOf(t, s, "installation_id", "srv-1") // makes the key of cur+2
	c.Set(future.Add(-2 * period))
	r, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Destroyed, []int64{cur + 2}) {
		t.Errorf("Rotate destroyed %v, want the key of epoch %d", r.Destroyed, cur+2)
	}
	if _, err := os.Stat(keyFile(dir, cur+2)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file of epoch cur+2: %v, want it gone", err)
	}
}

// A key directory that already exists with a lax mode, and key files that were
// given one, are made private: the directory 0700, key files 0600.
func TestOpenAndRotateMakeAnExistingDirectoryPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 24, 13, 19, 5, 0, time.UTC)}
	s := open(t, dir, c, 2)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key directory after Open: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	cur := s.Epoch(c.Now())
	if err := os.Chmod(keyFile(dir, cur), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("key directory after Rotate: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	for _, e := range []int64{cur, cur + 1} {
		if fi, err := os.Stat(keyFile(dir, e)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file of epoch %d after Rotate: %v, %v; want mode 0600", e, fi.Mode().Perm(), err)
		}
	}
}

func TestOpenRefusesAFileForADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pseudonym.Open(pseudonym.Config{Dir: file}); err == nil {
		t.Error("Open on a file succeeded")
	}
}

// A destruction that was interrupted (a crash between the rename and the
// removal) is finished by the next Rotate; files that are not key files stay.
func TestRotateCleansUpAfterACrash(t *testing.T) {
	s, c, dir := newStore(t)
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	write := func(name string, made time.Time) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, made, made); err != nil {
			t.Fatal(err)
		}
	}
	write(".destroy-0011223344556677", c.Now())
	write(".epoch-456.tmp", c.Now().Add(-time.Minute))
	write("README", c.Now().Add(-2*period))
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range readKeys(t, dir) {
		names = append(names, name)
	}
	slices.Sort(names)
	cur := s.Epoch(c.Now())
	want := []string{".epoch-456.tmp", "README", filepath.Base(keyFile(dir, cur)), filepath.Base(keyFile(dir, cur+1))}
	slices.Sort(want)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("key directory holds %v, want %v", names, want)
	}
}

// Several instances rotating one directory at once destroy each key once between
// them, make each new key once, and report no error.
func TestStoresRotatingAtOnceAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	first := open(t, dir, c, 1)
	for round := 0; round < 20; round++ {
		if _, err := first.Rotate(); err != nil {
			t.Fatal(err)
		}
		before, _ := first.Epochs()
		c.Add(2 * period) // both keys are now past the retention
		const stores = 8
		results := make([]pseudonym.Rotation, stores)
		errs := make([]error, stores)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range stores {
			s := open(t, dir, c, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = s.Rotate()
			}()
		}
		close(start)
		wg.Wait()
		var destroyed, created []int64
		for i := range stores {
			if errs[i] != nil {
				t.Fatalf("round %d: store %d: %v", round, i, errs[i])
			}
			destroyed = append(destroyed, results[i].Destroyed...)
			created = append(created, results[i].Created...)
		}
		slices.Sort(destroyed)
		slices.Sort(created)
		cur := first.Epoch(c.Now())
		if !reflect.DeepEqual(destroyed, before) || !reflect.DeepEqual(created, []int64{cur, cur + 1}) {
			t.Fatalf("round %d: destroyed %v (want %v once each), created %v (want %d and %d once each)",
				round, destroyed, before, created, cur, cur+1)
		}
		if got, _ := first.Epochs(); !reflect.DeepEqual(got, []int64{cur, cur + 1}) {
			t.Fatalf("round %d: Epochs() = %v", round, got)
		}
	}
}

// RotateEvery rotates on its timer, whatever happens to the clock meanwhile:
// once the clock passes the retention, the old key is destroyed without anyone
// calling Rotate, and its pseudonyms cannot be recomputed.
func TestRotateEveryRotatesOnItsTimer(t *testing.T) {
	s, c, dir := newStore(t) // Retention 2
	e0 := s.Epoch(c.Now())
	pseudonymOf(t, s, "installation_id", "srv-1")
	reports := make(chan pseudonym.Rotation, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.RotateEvery(ctx, 5*time.Millisecond, func(r pseudonym.Rotation, err error) {
			if err != nil {
				t.Errorf("rotation: %v", err)
			}
			reports <- r
		})
	}()
	wait := func(what string, cond func(pseudonym.Rotation) bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case r := <-reports:
				if cond(r) {
					return
				}
			case <-deadline:
				t.Fatalf("gave up waiting for a rotation that %s", what)
			}
		}
	}
	wait("makes the next key", func(r pseudonym.Rotation) bool { return slices.Contains(r.Created, e0+1) })
	c.Add(2 * period)
	wait("destroys the key of the first epoch", func(r pseudonym.Rotation) bool { return slices.Contains(r.Destroyed, e0) })
	if _, err := os.Stat(keyFile(dir, e0)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file of epoch %d: %v, want it gone", e0, err)
	}
	if got, err := s.PseudonymAt(e0, "installation_id", "srv-1"); !errors.Is(err, pseudonym.ErrNoKey) {
		t.Errorf("PseudonymAt(destroyed epoch) = %q, %v; want ErrNoKey", got, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RotateEvery returned %v when its context ended, want nil", err)
	}
}

// Keys lists every key file with the time it was made, including those of
// another period that the next Rotate destroys.
func TestKeysListsWhenEachKeyWasMade(t *testing.T) {
	s, c, dir := newStore(t)
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	cur := s.Epoch(c.Now())
	made := c.Now().Add(-100 * period)
	if err := os.WriteFile(keyFile(dir, 5), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(keyFile(dir, 5), made, made); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	want := []pseudonym.KeyFile{{Epoch: 5, Made: made}, {Epoch: cur, Made: c.Now()}, {Epoch: cur + 1, Made: c.Now()}}
	if len(keys) != len(want) {
		t.Fatalf("Keys() = %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i].Epoch != want[i].Epoch || !keys[i].Made.Equal(want[i].Made) {
			t.Errorf("Keys()[%d] = %v, want %v", i, keys[i], want[i])
		}
	}
}
