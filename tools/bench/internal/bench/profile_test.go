package bench

import (
	"bytes"
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

// A synthetic CPU profile: main.load calls main.decode (inlined into it) and
// runtime.memmove; the GC's mark worker runs runtime.scanobject.
func syntheticProfile(t *testing.T) []byte {
	t.Helper()
	fn := map[string]*profile.Function{}
	var fns []*profile.Function
	for i, name := range []string{"main.load", "main.decode", "runtime.memmove", "runtime.gcBgMarkWorker", "runtime.scanobject"} {
		f := &profile.Function{ID: uint64(i + 1), Name: name}
		fn[name] = f
		fns = append(fns, f)
	}
	loc := func(id uint64, names ...string) *profile.Location { // innermost first, as pprof stores inlined frames
		l := &profile.Location{ID: id}
		for _, n := range names {
			l.Line = append(l.Line, profile.Line{Function: fn[n]})
		}
		return l
	}
	load := loc(1, "main.decode", "main.load") // decode inlined into load
	memmove := loc(2, "runtime.memmove")
	mark := loc(3, "runtime.gcBgMarkWorker")
	scan := loc(4, "runtime.scanobject")
	ms := int64(1e6)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{load}, Value: []int64{50, 500 * ms}},
			{Location: []*profile.Location{memmove, load}, Value: []int64{30, 300 * ms}},
			{Location: []*profile.Location{scan, mark}, Value: []int64{20, 200 * ms}},
		},
		Location:   []*profile.Location{load, memmove, mark, scan},
		Function:   fns,
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10 * ms,
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTopFunctionsRanksByOwnTimeAndCountsGC(t *testing.T) {
	top, gc, secs, err := topFunctions(syntheticProfile(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(secs, 1.0) {
		t.Errorf("cpu seconds %v, want 1.0", secs)
	}
	if !near(gc, 0.2) {
		t.Errorf("gc share %v, want 0.2", gc)
	}
	if len(top) != 2 {
		t.Fatalf("top %d functions, want 2: %+v", len(top), top)
	}
	// decode (inlined, innermost) holds its 50%; memmove 30%; load's own time is 0.
	if top[0].Func != "main.decode" || !near(top[0].Flat, 0.5) || !near(top[0].Cum, 0.8) {
		t.Errorf("first %+v, want main.decode flat 0.5 cum 0.8", top[0])
	}
	if top[1].Func != "runtime.memmove" || !near(top[1].Flat, 0.3) {
		t.Errorf("second %+v, want runtime.memmove flat 0.3", top[1])
	}
	if _, _, _, err := topFunctions([]byte("not a profile"), 3); err == nil {
		t.Error("garbage parsed as a profile")
	}
}

func TestShortFuncDropsTheModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/veiltelemetry/veil/internal/sink.(*sinker).load": "sink.(*sinker).load",
		"runtime.memmove": "runtime.memmove",
	} {
		if got := shortFunc(in); got != want {
			t.Errorf("shortFunc(%q) = %q, want %q", in, got, want)
		}
	}
}
