package credential

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Revocations are the installations whose credentials are refused: all of them,
// or those issued before a time.
type Revocations struct {
	all    map[string]bool
	before map[string]time.Time
}

// ParseRevocations reads a revocation list: one installation id per line,
// optionally followed by an RFC 3339 time. An id alone revokes every credential
// of the installation, for as long as the line is there; with a time it revokes
// those issued before that time, so a credential issued afterwards (the
// installation's replacement) is accepted. Blank lines and lines starting with
// '#' are skipped; several lines for one installation add up. source names where
// the text came from in errors.
func ParseRevocations(text, source string) (*Revocations, error) {
	r := &Revocations{all: map[string]bool{}, before: map[string]time.Time{}}
	n := 0
	for line := range strings.Lines(text) {
		n++
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 2 {
			return nil, fmt.Errorf("%s: line %d: want an installation id and at most a time", source, n)
		}
		if err := checkID(f[0]); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", source, n, err)
		}
		if len(f) == 1 {
			r.all[f[0]] = true
			continue
		}
		t, err := time.Parse(time.RFC3339, f[1])
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %q is not an RFC 3339 time such as 2026-12-01T09:30:00Z", source, n, f[1])
		}
		if t.After(r.before[f[0]]) {
			r.before[f[0]] = t
		}
	}
	return r, nil
}

// Len is the number of installations with revoked credentials.
func (r *Revocations) Len() int {
	if r == nil {
		return 0
	}
	n := len(r.all)
	for id := range r.before {
		if !r.all[id] {
			n++
		}
	}
	return n
}

// Check returns an error wrapping ErrRevoked when the credential c describes is
// revoked, nil otherwise (and always for a nil list).
func (r *Revocations) Check(c Claims) error {
	if r == nil {
		return nil
	}
	if r.all[c.Installation] {
		return fmt.Errorf("%w: every credential of the installation is", ErrRevoked)
	}
	if t, ok := r.before[c.Installation]; ok && c.IssuedAt.Before(t) {
		return fmt.Errorf("%w: the installation's credentials issued before %s are", ErrRevoked, t.UTC().Format(time.RFC3339))
	}
	return nil
}

// RevocationFile is a revocation list read from a file and read again when the
// file changes. Replace the file atomically (write a new one, rename it over the
// old): a change is noticed by the file's identity, size or modification time.
// A file that disappears or no longer parses leaves the last list in force,
// which is logged: revocations never lapse by accident.
type RevocationFile struct {
	path    string
	recheck time.Duration
	log     *slog.Logger

	cur  atomic.Pointer[Revocations]
	next atomic.Int64 // Unix nanoseconds of the next look at the file

	mu   sync.Mutex  // one look at a time; guards info
	info os.FileInfo // of the version last read, good or bad
}

// OpenRevocationFile reads the list at path, which must exist and parse. Current
// looks at the file again at most every recheck (0: on every call).
func OpenRevocationFile(path string, recheck time.Duration, log *slog.Logger) (*RevocationFile, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &RevocationFile{path: path, recheck: recheck, log: log}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	r, err := f.read()
	if err != nil {
		return nil, err
	}
	f.cur.Store(r)
	f.info = info
	return f, nil
}

// Current returns the list in force at now, reading the file again first when
// recheck has passed since the last look and it changed. When another call is
// already looking, it returns the list in force without waiting.
func (f *RevocationFile) Current(now time.Time) *Revocations {
	if now.UnixNano() >= f.next.Load() && f.mu.TryLock() {
		f.next.Store(now.Add(f.recheck).UnixNano())
		f.reload()
		f.mu.Unlock()
	}
	return f.cur.Load()
}

// reload reads the file when it changed since the version last read. Called with
// mu held.
func (f *RevocationFile) reload() {
	info, err := os.Stat(f.path)
	if err != nil {
		if f.info != nil {
			f.log.Error("revocation list unreadable: the last one read stays in force", "file", f.path, "err", err)
			f.info = nil
		}
		return
	}
	if f.info != nil && os.SameFile(info, f.info) && info.Size() == f.info.Size() && info.ModTime().Equal(f.info.ModTime()) {
		return
	}
	f.info = info
	r, err := f.read()
	if err != nil {
		f.log.Error("revocation list does not parse: the last one read stays in force", "err", err)
		return
	}
	f.cur.Store(r)
	f.log.Info("revocation list read", "file", f.path, "installations", r.Len())
}

func (f *RevocationFile) read() (*Revocations, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	return ParseRevocations(string(b), "revocation list "+f.path)
}
