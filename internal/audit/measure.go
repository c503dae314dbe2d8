package audit

import (
	"sort"
)

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
	Rarest            []Cell  `json:"rarest,omitempty"` // the cells of smallest k, up to 10
}

// Measure computes the k of every file under a tuple: keys[i] is the tuple value
// of a file of title titles[i]; its k is the number of distinct titles with a
// file of the same value. The slices have the same, non-zero, length.
func Measure(name string, titles []int, keys []string) Stats {
	cells := map[string]map[int]bool{}
	count := map[string]int{}
	for i, k := range keys {
		if cells[k] == nil {
			cells[k] = map[int]bool{}
		}
		cells[k][titles[i]] = true
		count[k]++
	}
	st := Stats{Tuple: name, Encodes: len(keys), Cells: len(cells)}
	distinct := map[int]bool{}
	uniqueTitles := map[int]bool{}
	ks := make([]int, len(keys))
	for i, k := range keys {
		distinct[titles[i]] = true
		ks[i] = len(cells[k])
		if ks[i] == 1 {
			st.UniqueEncodes++
			uniqueTitles[titles[i]] = true
		}
	}
	st.Titles, st.UniqueTitles = len(distinct), len(uniqueTitles)
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
