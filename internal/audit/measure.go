package audit

import (
	"fmt"
	"sort"

	"github.com/veiltelemetry/veil/internal/privacy"
)

// A Tuple reduces an encode to what an observer sees of it.
type Tuple func(Encode) string

// RawTuple is what a device sends: exact duration, bitrate, size and picture size.
func RawTuple(e Encode) string {
	return fmt.Sprintf("%d ms, %d kbit/s, %d B, %dx%d", e.DurationMs, e.BitrateKbps, e.SizeBytes, e.Width, e.Height)
}

// GeneralizedTuple is what the clean topic holds, computed by the privacy policy's
// own generalization functions for a video.
func GeneralizedTuple(e Encode) string {
	return privacy.DurationBucket("video", e.DurationMs) + ", " + privacy.BitrateBucket("video", e.BitrateKbps) + ", " +
		privacy.SizeBucket("video", e.SizeBytes) + ", " + privacy.Resolution("video", e.Width, e.Height)
}

// GeneralizedCodecTuple adds the video codec, which the clean topic keeps as sent.
func GeneralizedCodecTuple(e Encode) string { return GeneralizedTuple(e) + ", " + e.VideoCodec }

// MinutesTuple is the exact running time in minutes alone, a reference point.
func MinutesTuple(e Encode) string { return fmt.Sprintf("%d min", e.Minutes) }

// Cell is one distinct tuple and how many titles and encodes share it.
type Cell struct {
	Tuple   string `json:"tuple"`
	K       int    `json:"k"` // distinct titles
	Encodes int    `json:"encodes"`
}

// Stats is the re-identification risk of one tuple over a set of encodes.
type Stats struct {
	Tuple             string  `json:"tuple"`
	Titles            int     `json:"titles"`
	Encodes           int     `json:"encodes"`
	Cells             int     `json:"distinct_tuples"`
	UniqueTitles      int     `json:"unique_titles"` // titles with at least one encode of k = 1
	UniqueEncodes     int     `json:"unique_encodes"`
	UniqueTitleShare  float64 `json:"unique_title_share"` // 0..1
	UniqueEncodeShare float64 `json:"unique_encode_share"`
	KMin              int     `json:"k_min"` // k over encodes, nearest rank
	KP10              int     `json:"k_p10"`
	KMedian           int     `json:"k_median"`
	KP90              int     `json:"k_p90"`
	Rarest            []Cell  `json:"rarest"` // the cells of smallest k, up to 10
}

// Measure computes the k of every encode under tuple: the number of distinct titles
// with an encode of the same tuple. Encodes must be non-empty.
func Measure(name string, encodes []Encode, tuple Tuple) Stats {
	cells := map[string]map[int]bool{}
	count := map[string]int{}
	keys := make([]string, len(encodes))
	for i, e := range encodes {
		k := tuple(e)
		keys[i] = k
		if cells[k] == nil {
			cells[k] = map[int]bool{}
		}
		cells[k][e.Title] = true
		count[k]++
	}
	st := Stats{Tuple: name, Encodes: len(encodes), Cells: len(cells)}
	titles := map[int]bool{}
	uniqueTitles := map[int]bool{}
	ks := make([]int, len(encodes))
	for i, e := range encodes {
		titles[e.Title] = true
		ks[i] = len(cells[keys[i]])
		if ks[i] == 1 {
			st.UniqueEncodes++
			uniqueTitles[e.Title] = true
		}
	}
	st.Titles, st.UniqueTitles = len(titles), len(uniqueTitles)
	if st.Titles > 0 {
		st.UniqueTitleShare = float64(st.UniqueTitles) / float64(st.Titles)
		st.UniqueEncodeShare = float64(st.UniqueEncodes) / float64(st.Encodes)
	}
	sort.Ints(ks)
	st.KMin, st.KP10, st.KMedian, st.KP90 = rank(ks, 0), rank(ks, 10), rank(ks, 50), rank(ks, 90)
	for t, ts := range cells {
		st.Rarest = append(st.Rarest, Cell{Tuple: t, K: len(ts), Encodes: count[t]})
	}
	sort.Slice(st.Rarest, func(i, j int) bool {
		a, b := st.Rarest[i], st.Rarest[j]
		if a.K != b.K {
			return a.K < b.K
		}
		return a.Tuple < b.Tuple
	})
	if len(st.Rarest) > 10 {
		st.Rarest = st.Rarest[:10]
	}
	return st
}

// rank is the nearest-rank percentile p of sorted values; p = 0 is the minimum.
func rank(sorted []int, p int) int {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1 // ceil(p/100 * n) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}
