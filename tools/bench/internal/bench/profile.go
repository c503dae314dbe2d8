package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// Profile is what one binary spent its CPU on during the full-rate run, from
// its /debug/pprof/profile (the binaries' --pprof-addr).
type Profile struct {
	Proc       string      `json:"proc"`
	CPUFile    string      `json:"cpu_file"`  // go tool pprof -top <file>
	HeapFile   string      `json:"heap_file"` // taken when the CPU profile ends
	Seconds    float64     `json:"seconds"`   // length of the CPU profile
	CPUSeconds float64     `json:"cpu_seconds"`
	GC         float64     `json:"gc_share"` // share of CPU under runtime.gcBgMarkWorker
	Top        []FuncShare `json:"top"`      // by flat CPU
	Err        string      `json:"error,omitempty"`
}

// FuncShare is one function's share of the CPU samples: flat (in the function
// itself) and cumulative (with what it calls).
type FuncShare struct {
	Func string  `json:"func"`
	Flat float64 `json:"flat"`
	Cum  float64 `json:"cum"`
}

// profileTop is how many functions a Profile lists.
const profileTop = 6

// captureProfiles takes, at the same time, a CPU profile of d from every
// process that serves profiles, then its heap profile, into dir. A process that
// fails to answer gets a Profile with Err set.
func captureProfiles(ctx context.Context, dir string, d time.Duration, ps ...*Proc) []Profile {
	secs := max(1, int(d.Seconds()))
	out := make([]Profile, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		out[i] = Profile{Proc: p.Name, Seconds: float64(secs)}
		if p.PprofAddr == "" {
			out[i].Err = "serves no profiles"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			prof := &out[i]
			cctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
			cpu, err := fetch(cctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.PprofAddr, secs))
			cancel()
			if err == nil {
				prof.CPUFile = filepath.Join(dir, p.Name+".cpu.pprof")
				err = os.WriteFile(prof.CPUFile, cpu, 0o644)
			}
			if err == nil {
				prof.Top, prof.GC, prof.CPUSeconds, err = topFunctions(cpu, profileTop)
			}
			if err != nil {
				prof.Err = err.Error()
				return
			}
			hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			heap, err := fetch(hctx, "http://"+p.PprofAddr+"/debug/pprof/heap")
			cancel()
			if err == nil {
				prof.HeapFile = filepath.Join(dir, p.Name+".heap.pprof")
				_ = os.WriteFile(prof.HeapFile, heap, 0o644)
			}
		}()
	}
	wg.Wait()
	return out
}

// fetch GETs url and returns the body of a 200 answer.
func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, err
}

// topFunctions reads a CPU profile and returns its n heaviest functions by flat
// time, the share under the GC's mark workers, and the CPU seconds sampled.
func topFunctions(data []byte, n int) (top []FuncShare, gc, seconds float64, err error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("parse CPU profile: %w", err)
	}
	vi := len(p.SampleType) - 1 // "cpu" nanoseconds is the last value of a Go CPU profile
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			vi = i
		}
	}
	flat, cum := map[string]int64{}, map[string]int64{}
	var total, gcTotal int64
	for _, s := range p.Sample {
		v := s.Value[vi]
		total += v
		seen := map[string]bool{}
		first := true
		for _, loc := range s.Location {
			for _, line := range loc.Line { // inlined calls first, then their caller
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if first {
					flat[name] += v
					first = false
				}
				if !seen[name] {
					seen[name] = true
					cum[name] += v
				}
			}
		}
		if seen["runtime.gcBgMarkWorker"] {
			gcTotal += v
		}
	}
	if total == 0 {
		return nil, 0, 0, nil
	}
	for name, v := range flat {
		top = append(top, FuncShare{Func: name, Flat: float64(v) / float64(total), Cum: float64(cum[name]) / float64(total)})
	}
	sort.Slice(top, func(i, j int) bool {
		if top[i].Flat != top[j].Flat {
			return top[i].Flat > top[j].Flat
		}
		return top[i].Func < top[j].Func
	})
	if len(top) > n {
		top = top[:n]
	}
	return top, float64(gcTotal) / float64(total), time.Duration(total).Seconds(), nil
}

// shortFunc drops the module path from a function name:
// "github.com/veiltelemetry/veil/internal/sink.(*sinker).load" → "sink.(*sinker).load".
func shortFunc(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}
