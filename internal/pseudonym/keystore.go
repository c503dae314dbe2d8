package pseudonym

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config of a key store.
type Config struct {
	Dir       string        // directory of key files; created if missing
	Period    time.Duration // length of an epoch; default DefaultPeriod
	Retention int           // epochs whose keys are kept, the current one included; default DefaultRetention
	// CacheSize bounds how many pseudonyms of the current epoch are remembered,
	// so that the HMAC of a frequent identifier is computed once; default 65536,
	// negative disables. The cache is emptied when the epoch changes, and when
	// it is full.
	CacheSize int
	Now       func() time.Time
}

// Defaults of Config, which the enricher's --key-period and --key-retention
// share and the privacy tab states.
const (
	DefaultPeriod    = 30 * 24 * time.Hour
	DefaultRetention = 3
)

// Store hands out pseudonyms under the key of the current epoch.
type Store struct {
	cfg Config

	mu     sync.Mutex
	epoch  int64
	key    []byte
	pool   *sync.Pool                   // of hash.Hash for the current key
	cache  map[string]map[string]string // field -> identifier -> pseudonym, current epoch
	cached int
}

// ErrNoKey means the key of an epoch does not exist (never made, or destroyed).
var ErrNoKey = errors.New("pseudonym: no key for epoch")

// Open returns a store over cfg.Dir, creating the directory if needed and making
// it accessible to its owner only (0700), whatever its mode was.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("pseudonym: key directory is required")
	}
	if cfg.Period == 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Period < time.Second {
		return nil, fmt.Errorf("pseudonym: epoch period must be at least 1s, got %s", cfg.Period)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 1 << 16
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	if err := private(cfg.Dir); err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, epoch: -1}, nil
}

// private gives dir mode 0700: MkdirAll leaves an existing directory as it was.
func private(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pseudonym: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("pseudonym: key directory %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("pseudonym: make key directory private (mode %v): %w", fi.Mode().Perm(), err)
		}
	}
	return nil
}

// Dir returns the key directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// Epoch returns the epoch number of t.
func (s *Store) Epoch(t time.Time) int64 { return t.Unix() / int64(s.cfg.Period/time.Second) }

func (s *Store) path(epoch int64) string {
	return filepath.Join(s.cfg.Dir, keyName(epoch))
}

func keyName(epoch int64) string { return "epoch-" + strconv.FormatInt(epoch, 10) + ".key" }

// parseKeyName returns the epoch of a key file's name: exactly "epoch-<N>.key",
// as keyName writes it.
func parseKeyName(name string) (int64, bool) {
	n, ok := strings.CutPrefix(name, "epoch-")
	n, ok2 := strings.CutSuffix(n, ".key")
	v, err := strconv.ParseInt(n, 10, 64)
	if !ok || !ok2 || err != nil || keyName(v) != name {
		return 0, false
	}
	return v, true
}

// loadKey returns the key of epoch, creating it when create is set and it is missing.
func (s *Store) loadKey(epoch int64, create bool) ([]byte, error) {
	data, err := os.ReadFile(s.path(epoch))
	if errors.Is(err, fs.ErrNotExist) && create {
		key, _, err := s.create(epoch)
		return key, err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %d", ErrNoKey, epoch)
	}
	if err != nil {
		return nil, fmt.Errorf("pseudonym: read key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("pseudonym: key file %s is corrupt", s.path(epoch))
	}
	return key, nil
}

// create makes the key of epoch unless another instance is first, and returns the
// key in the file either way, and whether this call made it.
//
// The key is written to a temporary file (0600) whose modification time is set to
// the store's clock, then linked into place: the link fails if another instance
// was first, and no reader ever sees a key file that is still empty or half
// written. Rotate reads the modification time as the time the key was made.
func (s *Store) create(epoch int64) ([]byte, bool, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	f, err := os.CreateTemp(s.cfg.Dir, ".epoch-*.tmp")
	if err != nil {
		return nil, false, fmt.Errorf("pseudonym: create key: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		now := s.cfg.Now()
		werr = os.Chtimes(f.Name(), now, now)
	}
	if werr != nil {
		return nil, false, fmt.Errorf("pseudonym: write key: %w", werr)
	}
	err = os.Link(f.Name(), s.path(epoch))
	if errors.Is(err, fs.ErrExist) { // another instance won the race: use its key
		key, err := s.loadKey(epoch, false)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("pseudonym: create key: %w", err)
	}
	return key, true, nil
}

// Pseudonym returns the pseudonym of value under the current epoch's key. The field
// name separates domains: the same string as installation and as account id gives
// two unrelated pseudonyms. It creates the epoch's key if no instance has yet.
//
// value is not retained: callers may pass a string that aliases a buffer they
// reuse.
func (s *Store) Pseudonym(field, value string) (string, error) {
	epoch := s.Epoch(s.cfg.Now())
	s.mu.Lock()
	if epoch != s.epoch {
		key, err := s.loadKey(epoch, true)
		if err != nil {
			s.mu.Unlock()
			return "", err
		}
		s.epoch, s.key = epoch, key
		s.pool = &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
		s.cache, s.cached = nil, 0 // the old epoch's pseudonyms go with its key
	}
	if p, ok := s.cache[field][value]; ok {
		s.mu.Unlock()
		return p, nil
	}
	pool := s.pool
	s.mu.Unlock()
	p := s.sum(pool, epoch, field, value)
	if s.cfg.CacheSize > 0 {
		s.mu.Lock()
		if epoch == s.epoch {
			if s.cached >= s.cfg.CacheSize || s.cache == nil {
				s.cache, s.cached = map[string]map[string]string{}, 0
			}
			m := s.cache[field]
			if m == nil {
				m = map[string]string{}
				s.cache[field] = m
			}
			m[strings.Clone(value)] = p
			s.cached++
		}
		s.mu.Unlock()
	}
	return p, nil
}

// PseudonymAt computes the pseudonym value had in epoch, without creating keys. It
// fails with ErrNoKey once that epoch's key was destroyed.
func (s *Store) PseudonymAt(epoch int64, field, value string) (string, error) {
	key, err := s.loadKey(epoch, false)
	if err != nil {
		return "", err
	}
	pool := &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
	return s.sum(pool, epoch, field, value), nil
}

func (s *Store) sum(pool *sync.Pool, epoch int64, field, value string) string {
	h := pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(field))
	h.Write([]byte{0})
	h.Write([]byte(value))
	var sum [sha256.Size]byte
	mac := h.Sum(sum[:0])
	pool.Put(h)
	buf := make([]byte, 0, 48)
	buf = append(buf, 'e')
	buf = strconv.AppendInt(buf, epoch, 10)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, mac[:16])
	return string(buf)
}
