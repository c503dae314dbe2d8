package pseudonym_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/veiltelemetry/veil/internal/pseudonym"
)

// This package has no golden files; it accepts -update so that the project-wide
// go test ./... -update runs.
var _ = flag.Bool("update", false, "no effect in this package")

const period = 30 * 24 * time.Hour

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

func open(t *testing.T, dir string, c *clock, retention int) *pseudonym.Store {
	t.Helper()
	s, err := pseudonym.Open(pseudonym.Config{Dir: dir, Period: period, Retention: retention, Now: c.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func newStore(t *testing.T) (*pseudonym.Store, *clock, string) {
	dir := filepath.Join(t.TempDir(), "keys")
	c := &clock{t: time.Date(2026, 11, 24, 13, 19, 5, 0, time.UTC)}
	return open(t, dir, c, 2), c, dir
}

func pseudonymOf(t *testing.T, s *pseudonym.Store, field, value string) string {
	t.Helper()
	p, err := s.Pseudonym(field, value)
	if err != nil {
		t.Fatalf("Pseudonym(%q, %q): %v", field, value, err)
	}
	return p
}

func TestOpenRequiresADirectory(t *testing.T) {
	if _, err := pseudonym.Open(pseudonym.Config{}); err == nil {
		t.Error("Open without a directory succeeded")
	}
}

func TestThePseudonymHasTheEpochPrefixAndHidesTheValue(t *testing.T) {
	s, c, _ := newStore(t)
	epoch := s.Epoch(c.Now())
	if want := c.Now().Unix() / int64(period/time.Second); epoch != want {
		t.Fatalf("Epoch = %d, want %d", epoch, want)
	}
	value := "srv-7c1d2e4f9a"
	p := pseudonymOf(t, s, "installation_id", value)
	// e<epoch>. then 128 bits in unpadded base64url: 22 characters.
	if re := regexp.MustCompile(`^e` + strconv.FormatInt(epoch, 10) + `\.[A-Za-z0-9_-]{22}$`); !re.MatchString(p) {
		t.Errorf("pseudonym %q does not match %s", p, re)
	}
	for _, part := range []string{value, "7c1d2e4f9a", "installation_id"} {
		if strings.Contains(p, part) {
			t.Errorf("pseudonym %q contains %q", p, part)
		}
	}
}

func TestPseudonymsWithinAnEpoch(t *testing.T) {
	s, c, _ := newStore(t)
	a := pseudonymOf(t, s, "installation_id", "srv-1")
	c.Add(period / 1000) // later, still the same epoch
	if b := pseudonymOf(t, s, "installation_id", "srv-1"); a != b {
		t.Errorf("the same value gave %q then %q in one epoch", a, b)
	}
	if b := pseudonymOf(t, s, "account_id", "srv-1"); a == b {
		t.Errorf("the same value as installation and as account id gave the same pseudonym %q", a)
	}
	if b := pseudonymOf(t, s, "installation_id", "srv-2"); a == b {
		t.Errorf("two values gave the same pseudonym %q", a)
	}
	// The field and value are separated, not concatenated.
	if x, y := pseudonymOf(t, s, "ab", "c"), pseudonymOf(t, s, "a", "bc"); x == y {
		t.Errorf(`("ab","c") and ("a","bc") gave the same pseudonym %q`, x)
	}
}

func TestANewEpochGivesANewPseudonym(t *testing.T) {
	s, c, dir := newStore(t)
	first := pseudonymOf(t, s, "installation_id", "srv-1")
	e1 := s.Epoch(c.Now())
	c.Add(period)
	second := pseudonymOf(t, s, "installation_id", "srv-1")
	e2 := s.Epoch(c.Now())
	if e2 != e1+1 {
		t.Fatalf("epoch went from %d to %d after one period", e1, e2)
	}
	if first == second {
		t.Fatalf("the same value has pseudonym %q in epochs %d and %d", first, e1, e2)
	}
	if !strings.HasPrefix(second, "e"+strconv.FormatInt(e2, 10)+".") {
		t.Errorf("pseudonym %q of epoch %d has the wrong prefix", second, e2)
	}
	// Different keys, not just different prefixes.
	if first[strings.IndexByte(first, '.'):] == second[strings.IndexByte(second, '.'):] {
		t.Errorf("pseudonyms %q and %q share their MAC", first, second)
	}
	if got, err := s.PseudonymAt(e1, "installation_id", "srv-1"); err != nil || got != first {
		t.Errorf("PseudonymAt(%d) = %q, %v; want %q while the key exists", e1, got, err, first)
	}
	for _, e := range []int64{e1, e2} {
		if _, err := os.Stat(filepath.Join(dir, "epoch-"+strconv.FormatInt(e, 10)+".key")); err != nil {
			t.Errorf("key of epoch %d: %v", e, err)
		}
	}
}

func TestKeyFilesAreReadableOnlyByTheOwner(t *testing.T) {
	s, c, dir := newStore(t)
	pseudonymOf(t, s, "installation_id", "srv-1")
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	epochs, err := s.Epochs()
	if err != nil {
		t.Fatal(err)
	}
	if cur := s.Epoch(c.Now()); !reflect.DeepEqual(epochs, []int64{cur, cur + 1}) {
		t.Fatalf("Epochs() = %v, want the current epoch %d and the next", epochs, cur)
	}
	for _, e := range epochs {
		fi, err := os.Stat(filepath.Join(dir, "epoch-"+strconv.FormatInt(e, 10)+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file of epoch %d has mode %v, want 0600", e, fi.Mode().Perm())
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("key directory has mode %v, want no access for group or others", fi.Mode().Perm())
	}
}

func TestTwoStoresOnOneDirectoryAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, b := open(t, dir, c, 3), open(t, dir, c, 3)
	if x, y := pseudonymOf(t, a, "installation_id", "srv-1"), pseudonymOf(t, b, "installation_id", "srv-1"); x != y {
		t.Errorf("two stores on one directory gave %q and %q", x, y)
	}
}

// Many stores asking at once for the pseudonym of a new epoch race to create its key
// (O_EXCL); every one of them must end up with the winner's key.
func TestStoresRacingToCreateAKeyAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const stores = 16
	for round := 0; round < 50; round++ {
		c.Add(period) // a fresh epoch, no key yet
		var wg sync.WaitGroup
		start := make(chan struct{})
		got := make([]string, stores)
		errs := make([]error, stores)
		for i := range stores {
			s := open(t, dir, c, 1000)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = s.Pseudonym("installation_id", "srv-1")
			}()
		}
		close(start)
		wg.Wait()
		for i := range stores {
			if errs[i] != nil {
				t.Fatalf("round %d: store %d: %v", round, i, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("round %d: store %d got %q, store 0 got %q", round, i, got[i], got[0])
			}
		}
	}
	for name := range readKeys(t, dir) {
		if !regexp.MustCompile(`^epoch-\d+\.key$`).MatchString(name) {
			t.Errorf("key directory holds %s after the race; want only key files", name)
		}
	}
}

func TestRotateDestroysKeysPastTheRetention(t *testing.T) {
	s, c, dir := newStore(t) // Retention 2: the current epoch and the one before
	e0 := s.Epoch(c.Now())
	old := pseudonymOf(t, s, "installation_id", "srv-1")

	r, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if want := (pseudonym.Rotation{Current: e0, Created: []int64{e0 + 1}}); !reflect.DeepEqual(r, want) {
		t.Errorf("first Rotate = %+v, want %+v (the current key already existed)", r, want)
	}

	c.Add(period) // epoch e0+1: e0 is still within the retention
	if r, err = s.Rotate(); err != nil {
		t.Fatal(err)
	}
	if want := (pseudonym.Rotation{Current: e0 + 1, Created: []int64{e0 + 2}}); !reflect.DeepEqual(r, want) {
		t.Errorf("Rotate in epoch e0+1 = %+v, want %+v", r, want)
	}
	if got, err := s.PseudonymAt(e0, "installation_id", "srv-1"); err != nil || got != old {
		t.Errorf("PseudonymAt(e0) within the retention = %q, %v; want %q", got, err, old)
	}

	c.Add(period) // epoch e0+2: e0 is now older than the retention
	if r, err = s.Rotate(); err != nil {
		t.Fatal(err)
	}
	if want := (pseudonym.Rotation{Current: e0 + 2, Created: []int64{e0 + 3}, Destroyed: []int64{e0}}); !reflect.DeepEqual(r, want) {
		t.Errorf("Rotate in epoch e0+2 = %+v, want %+v", r, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "epoch-"+strconv.FormatInt(e0, 10)+".key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file of epoch e0 after destruction: %v, want it gone", err)
	}
	got, err := s.PseudonymAt(e0, "installation_id", "srv-1")
	if !errors.Is(err, pseudonym.ErrNoKey) {
		t.Fatalf("PseudonymAt(destroyed epoch) = %q, %v; want an error wrapping ErrNoKey", got, err)
	}
	if got != "" {
		t.Errorf("PseudonymAt(destroyed epoch) returned %q with its error", got)
	}
	if epochs, _ := s.Epochs(); !reflect.DeepEqual(epochs, []int64{e0 + 1, e0 + 2, e0 + 3}) {
		t.Errorf("Epochs() = %v, want e0+1..e0+3", epochs)
	}
	// Now does not recreate the destroyed key either.
	if _, err := os.Stat(filepath.Join(dir, "epoch-"+strconv.FormatInt(e0, 10)+".key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PseudonymAt recreated the destroyed key: %v", err)
	}
}

func TestRotateIsIdempotent(t *testing.T) {
	s, c, dir := newStore(t)
	first, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	cur := s.Epoch(c.Now())
	if want := []int64{cur, cur + 1}; !reflect.DeepEqual(first.Created, want) {
		t.Errorf("first Rotate created %v, want %v", first.Created, want)
	}
	keys := readKeys(t, dir)
	p := pseudonymOf(t, s, "installation_id", "srv-1")
	again, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if want := (pseudonym.Rotation{Current: cur}); !reflect.DeepEqual(again, want) {
		t.Errorf("second Rotate = %+v, want %+v (nothing to create or destroy)", again, want)
	}
	if after := readKeys(t, dir); !reflect.DeepEqual(after, keys) {
		t.Errorf("second Rotate changed the keys")
	}
	if q := pseudonymOf(t, s, "installation_id", "srv-1"); p != q {
		t.Errorf("pseudonym changed from %q to %q across an idempotent Rotate", p, q)
	}
}

func TestPseudonymAtDoesNotCreateKeys(t *testing.T) {
	s, c, dir := newStore(t)
	future := s.Epoch(c.Now()) + 5
	if _, err := s.PseudonymAt(future, "installation_id", "srv-1"); !errors.Is(err, pseudonym.ErrNoKey) {
		t.Errorf("PseudonymAt(epoch without key) error = %v, want ErrNoKey", err)
	}
	if keys := readKeys(t, dir); len(keys) != 0 {
		t.Errorf("PseudonymAt created key files %v", keys)
	}
}

func TestACorruptKeyFileIsAnError(t *testing.T) {
	s, c, dir := newStore(t)
	path := filepath.Join(dir, "epoch-"+strconv.FormatInt(s.Epoch(c.Now()), 10)+".key")
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := s.Pseudonym("installation_id", "srv-1")
	if err == nil || errors.Is(err, pseudonym.ErrNoKey) || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Pseudonym with a corrupt key file = %q, %v; want a corrupt-key error", p, err)
	}
}

func TestEpochsIgnoresOtherFiles(t *testing.T) {
	s, _, dir := newStore(t)
	for _, name := range []string{"README", "epoch-x.key", "epoch-7.key.tmp", "epoch-7.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Epochs(); err != nil || !reflect.DeepEqual(got, []int64{7}) {
		t.Errorf("Epochs() = %v, %v; want [7]", got, err)
	}
}

func readKeys(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		keys[e.Name()] = string(b)
	}
	return keys
}

// The cache changes nothing a caller sees: a store with it, one without, and
// PseudonymAt agree for identifiers seen once and many times, past the point
// where the cache fills and is emptied, and it keeps no reference to the caller's
// bytes.
func TestTheCacheGivesTheSamePseudonyms(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Unix(1795526345, 0) }
	cached, err := pseudonym.Open(pseudonym.Config{Dir: dir, Now: now, CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := pseudonym.Open(pseudonym.Config{Dir: dir, Now: now, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("inst-00")
	for round := range 3 {
		for i := range 20 {
			buf[5], buf[6] = byte('0'+i/10), byte('0'+i%10)
			value := unsafe.String(&buf[0], len(buf)) // aliases buf, as the enricher's strings do
			got, err := cached.Pseudonym("installation_id", value)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := plain.Pseudonym("installation_id", string(buf))
			at, _ := plain.PseudonymAt(plain.Epoch(now()), "installation_id", string(buf))
			if got != want || got != at {
				t.Fatalf("round %d, %s: cached %s, uncached %s, PseudonymAt %s", round, buf, got, want, at)
			}
		}
	}
}
