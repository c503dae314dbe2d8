package geo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BuildFile builds the database at out from files in the tor-geoipdb format (see
// ParseTorGeoIP), printing a line per source and a summary to progress. The
// database is written to a temporary file beside out and renamed over it only when
// complete, so a failed build leaves any previous database in place. When ctx ends
// first, BuildFile removes the temporary file and returns at once.
func BuildFile(ctx context.Context, out string, from []string, progress io.Writer) (BuildStats, error) {
	if out == "" {
		return BuildStats{}, errors.New("geo: no output file (--out)")
	}
	if len(from) == 0 {
		return BuildStats{}, errors.New("geo: no source file (--from)")
	}
	start := time.Now()
	var all []Range
	var credits []string
	seen := map[string]bool{}
	for _, path := range from {
		if ctx.Err() != nil {
			return BuildStats{}, fmt.Errorf("geo: %w", context.Cause(ctx))
		}
		f, err := os.Open(path)
		if err != nil {
			return BuildStats{}, fmt.Errorf("geo: %w", err)
		}
		rs, notes, err := ParseTorGeoIP(f)
		f.Close()
		if err != nil {
			return BuildStats{}, fmt.Errorf("%s: %w", path, err)
		}
		unknown := 0
		for _, r := range rs {
			if r.Country == "" {
				unknown++
			}
		}
		fmt.Fprintf(progress, "read %s: %d ranges (%d without a country)", path, len(rs), unknown)
		if g := notes["Generated"]; g != "" {
			fmt.Fprintf(progress, ", generated %s", g)
		}
		fmt.Fprintln(progress)
		for _, k := range []string{"Vendor", "License"} {
			if v := notes[k]; v != "" && !seen[v] {
				seen[v] = true
				credits = append(credits, v)
			}
		}
		all = append(all, rs...)
	}
	desc := "Country of IP address ranges, built by veil from tor-geoipdb data"
	if len(credits) > 0 {
		desc += " (" + strings.Join(credits, ", ") + ")"
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return BuildStats{}, fmt.Errorf("geo: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	type written struct {
		st  BuildStats
		err error
	}
	done := make(chan written, 1)
	go func() { // writing takes seconds and cannot be interrupted: it is left behind when ctx ends
		bw := bufio.NewWriterSize(tmp, 1<<20)
		st, err := WriteMMDB(bw, all, MMDBOptions{Description: desc})
		if err == nil {
			err = bw.Flush()
		}
		done <- written{st, err}
	}()
	var st BuildStats
	select {
	case w := <-done:
		st, err = w.st, w.err
	case <-ctx.Done():
		tmp.Close()
		return BuildStats{}, fmt.Errorf("geo: %w", context.Cause(ctx))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("geo: write %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return st, fmt.Errorf("geo: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return st, fmt.Errorf("geo: %w", err)
	}
	fmt.Fprintf(progress, "wrote %s: %d ranges with a country, %d without left out, %d reserved networks left out, %.1f MiB in %s\n",
		out, st.Ranges, st.Unknown, st.Reserved, float64(st.Bytes)/(1<<20), time.Since(start).Round(10*time.Millisecond))
	return st, nil
}
