package pseudonym

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ClockSlack is how far a key file's modification time may lie outside the span
// in which the store makes the key of its epoch (see Rotate), for clocks that
// differ between instances, or between an instance and a shared file system.
const ClockSlack = time.Hour

// Rotation reports what Rotate did.
type Rotation struct {
	Current   int64
	Created   []int64 // epochs whose key this call made
	Destroyed []int64 // epochs whose key file this call destroyed, from the names of the files
}

// Rotate makes sure the current and next epochs have keys, and destroys every
// other key file: keys of epochs before the retention or after the next one, and
// keys whose epoch cannot be proven to be one of the kept ones under the
// current Period. An epoch's number depends on the period, so a key file left by
// a store with another --key-period names an epoch that means another time. A
// key of epoch N is kept only when its file's modification time, which the store
// sets to the time it made the key, lies between the start of epoch N-1 (the next
// epoch's key is made ahead of time) and the end of epoch N, give or take
// ClockSlack. A file from another period has a number that, under the current
// one, is not among the kept epochs or was not made in that span; a key restored
// from a backup without its file times is destroyed too, so copy key directories
// with their times (cp -p, rsync -t).
//
// It also gives the directory mode 0700 and key files mode 0600, and finishes
// destructions that an earlier call did not. It leaves the temporary file of a
// key creation that crashed (another instance may be about to link a temporary
// file into place): one left before the link holds a key nobody used, one left
// after it is a second name of its key's file, overwritten along with it.
//
// Rotate is idempotent, and safe to run from several instances that share the
// directory: a key file is destroyed by the one instance whose rename of it
// succeeds, and a key is created by the one whose link succeeds. It goes on past
// a failure with the rest of its work and returns every failure, joined; the
// Rotation then says what was done. Run it from a timer (RotateEvery).
func (s *Store) Rotate() (Rotation, error) {
	now := s.cfg.Now()
	cur := s.Epoch(now)
	r := Rotation{Current: cur}
	var errs []error
	if err := private(s.cfg.Dir); err != nil {
		errs = append(errs, err)
	}
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return r, errors.Join(append(errs, fmt.Errorf("pseudonym: %w", err))...)
	}
	oldest := cur - int64(s.cfg.Retention) + 1
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(s.cfg.Dir, name)
		epoch, isKey := parseKeyName(name)
		switch {
		case strings.HasPrefix(name, destroying):
			if err := shred(path); err != nil {
				errs = append(errs, err)
			}
		case isKey:
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // destroyed by another instance meanwhile
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("pseudonym: key file %s: %w", name, err))
				continue
			}
			if epoch >= oldest && epoch <= cur+1 && s.madeFor(epoch, fi.ModTime()) {
				if fi.Mode().Perm() != 0o600 {
					if err := os.Chmod(path, 0o600); err != nil {
						errs = append(errs, fmt.Errorf("pseudonym: make key file %s private: %w", name, err))
					}
				}
				continue
			}
			destroyed, err := s.destroy(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("pseudonym: destroy key %d: %w", epoch, err))
			}
			if destroyed {
				r.Destroyed = append(r.Destroyed, epoch)
			}
		}
	}
	slices.Sort(r.Destroyed)
	if len(r.Destroyed) > 0 {
		// A key this store holds in memory may have been among them (a key file of
		// another period that bore the current epoch's number).
		s.mu.Lock()
		if slices.Contains(r.Destroyed, s.epoch) {
			s.epoch, s.key, s.pool, s.cache, s.cached = -1, nil, nil, nil, 0
		}
		s.mu.Unlock()
	}
	for _, e := range []int64{cur, cur + 1} {
		_, err := os.Stat(s.path(e))
		if err == nil {
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("pseudonym: key %d: %w", e, err))
			continue
		}
		_, created, err := s.create(e)
		if err != nil {
			errs = append(errs, err)
		}
		if created {
			r.Created = append(r.Created, e)
		}
	}
	return r, errors.Join(errs...)
}

// madeFor reports whether a key made at t can be the key of epoch under the
// store's period: the key of epoch N is made from the start of epoch N-1 (ahead
// of time, by Rotate) to the end of epoch N (on first use), give or take
// ClockSlack.
func (s *Store) madeFor(epoch int64, t time.Time) bool {
	secs := int64(s.cfg.Period / time.Second)
	from := time.Unix((epoch-1)*secs, 0).Add(-ClockSlack)
	to := time.Unix((epoch+1)*secs, 0).Add(ClockSlack)
	return !t.Before(from) && !t.After(to)
}

// destroying prefixes the name a key file takes while it is destroyed.
const destroying = ".destroy-"

// destroy renames a key file to a name no reader looks for, then shreds it. It
// reports false, with no error, when the file was already gone: another instance
// destroyed it first.
func (s *Store) destroy(path string) (bool, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return false, err
	}
	tmp := filepath.Join(s.cfg.Dir, destroying+hex.EncodeToString(b))
	if err := os.Rename(path, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, shred(tmp)
}

// shred overwrites a file with zeros, syncs it and removes it. The overwrite is
// best effort: it replaces the key's bytes where the file system writes in place
// (ext4, XFS, tmpfs), but not on a copy-on-write file system (btrfs, ZFS), in
// snapshots or backups, in a data journal or in an SSD's remapped blocks. The
// removal is what the store relies on; a failed overwrite is reported, and the
// file is removed anyway.
func shred(path string) error {
	var werr error
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // shredded by another instance
	case err != nil:
		werr = err
	default:
		var fi fs.FileInfo
		if fi, werr = f.Stat(); werr == nil {
			_, werr = f.WriteAt(make([]byte, fi.Size()), 0)
		}
		if werr == nil {
			werr = f.Sync()
		}
		if err := f.Close(); werr == nil {
			werr = err
		}
	}
	if werr != nil {
		werr = fmt.Errorf("overwrite %s before removing it: %w", filepath.Base(path), werr)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errors.Join(werr, fmt.Errorf("remove %s: %w", filepath.Base(path), err))
	}
	return werr
}

// RotateEvery runs Rotate every interval until ctx ends, and hands each result to
// report (nil: none). A failed rotation does not stop it: the next one tries
// again. It returns nil when ctx ends.
func (s *Store) RotateEvery(ctx context.Context, every time.Duration, report func(Rotation, error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r, err := s.Rotate()
		if report != nil {
			report(r, err)
		}
	}
}

// KeyFile is a key file in the store's directory.
type KeyFile struct {
	Epoch int64     // from its name, under whatever period made it
	Made  time.Time // its modification time: when the key was made
}

// Keys lists the key files in the directory, oldest epoch first, including those
// that the next Rotate will destroy.
func (s *Store) Keys() ([]KeyFile, error) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	var out []KeyFile
	for _, e := range entries {
		epoch, ok := parseKeyName(e.Name())
		if !ok {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pseudonym: %w", err)
		}
		out = append(out, KeyFile{Epoch: epoch, Made: fi.ModTime()})
	}
	slices.SortFunc(out, func(a, b KeyFile) int { return cmp.Compare(a.Epoch, b.Epoch) })
	return out, nil
}

// Epochs lists the epochs that have a key file, oldest first.
func (s *Store) Epochs() ([]int64, error) {
	keys, err := s.Keys()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = k.Epoch
	}
	return out, nil
}
