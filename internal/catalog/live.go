package catalog

import (
	"context"
	"os"
	"sync/atomic"
	"time"
)

// Live is a catalog that follows its file: Follow reloads it when the file's
// modification time or size changes. A file that cannot be read or parsed leaves
// the last good catalog in place. Lookup is safe for concurrent use.
type Live struct {
	path string
	cur  atomic.Pointer[Catalog]
	mod  time.Time
	size int64
}

// Open loads the catalog at path. An empty path gives an empty catalog that
// never changes: nothing the devices report as a catalog id is kept.
func Open(path string) (*Live, error) {
	l := &Live{path: path}
	if path == "" {
		l.cur.Store(&Catalog{})
		return l, nil
	}
	if _, err := l.reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// Lookup implements the privacy policy's Catalog with the current catalog.
func (l *Live) Lookup(set, id string) (string, bool) { return l.cur.Load().Lookup(set, id) }

// Current returns the catalog in use.
func (l *Live) Current() *Catalog { return l.cur.Load() }

// reload reads the file when it changed since the last load, and reports
// whether it replaced the catalog.
func (l *Live) reload() (bool, error) {
	st, err := os.Stat(l.path)
	if err != nil {
		return false, err
	}
	if l.cur.Load() != nil && st.ModTime().Equal(l.mod) && st.Size() == l.size {
		return false, nil
	}
	c, err := Load(l.path)
	if err != nil {
		return false, err
	}
	l.cur.Store(c)
	l.mod, l.size = st.ModTime(), st.Size()
	return true, nil
}

// Follow checks the file every interval until ctx ends, and calls report after
// each reload (err nil) and after each failed one (the old catalog stays). It
// returns nil when ctx ends; an empty path returns at once.
func (l *Live) Follow(ctx context.Context, every time.Duration, report func(c *Catalog, err error)) error {
	if l.path == "" {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		changed, err := l.reload()
		if (changed || err != nil) && report != nil {
			report(l.cur.Load(), err)
		}
	}
}
