package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"
)

// Title is one film of the catalog.
type Title struct {
	Name    string
	Minutes int // running time in whole minutes, > 0
	// Year of release, 0 when the catalog does not say. vega-datasets wrote some
	// films of the 1930s as 20xx (Gone with the Wind: "Dec 15 2039"); a year after
	// the catalog's last (2010) is read as 19xx.
	Year int
	// Votes is the film's number of IMDb votes, 0 when unknown; Gross its
	// worldwide gross in dollars, 0 when unknown.
	Votes int
	Gross int64
	// Popularity is the film's rank in the catalog between 0 (least popular) and
	// 1 (most): the share of the catalog's titles with fewer IMDb votes, or, for a
	// film without votes, with a smaller worldwide gross. Set by LoadCatalog;
	// SetPopularity recomputes it for titles built by hand.
	Popularity float64
}

// Catalog is the films with a running time, and how many were left out.
type Catalog struct {
	Titles  []Title
	Skipped int // entries without a running time
}

// lastYear is the latest release year of vega-datasets' movies.json: later years
// are the catalog's misreading of two-digit years.
const lastYear = 2010

// LoadCatalog reads a JSON array of objects with "Title", "Running Time min",
// "Release Date" ("Jun 12 1998"), "IMDB Votes" and "Worldwide Gross"
// (vega-datasets' data/movies.json). An entry whose running time is null, missing
// or not positive is skipped and counted; a missing or null date, vote count or
// gross is unknown. A value of the wrong type, a date that is not one, or a
// document that is not an array of objects is an error: the audit refuses to
// measure a catalog it misread.
func LoadCatalog(r io.Reader) (Catalog, error) {
	var raw []map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return Catalog{}, fmt.Errorf("audit: catalog: want a JSON array of objects: %w", err)
	}
	var c Catalog
	for i, e := range raw {
		var minutes float64
		if ok, err := number(e, "Running Time min", &minutes); err != nil {
			return Catalog{}, fmt.Errorf("audit: catalog entry %d: %w", i, err)
		} else if !ok || minutes <= 0 {
			c.Skipped++
			continue
		}
		t := Title{Name: titleName(e["Title"], i), Minutes: int(minutes + 0.5)}
		var votes, gross float64
		if _, err := number(e, "IMDB Votes", &votes); err != nil {
			return Catalog{}, fmt.Errorf("audit: catalog entry %d: %w", i, err)
		}
		if _, err := number(e, "Worldwide Gross", &gross); err != nil {
			return Catalog{}, fmt.Errorf("audit: catalog entry %d: %w", i, err)
		}
		t.Votes, t.Gross = int(votes), int64(gross)
		if d, ok := e["Release Date"]; ok && string(d) != "null" {
			var s string
			if err := json.Unmarshal(d, &s); err != nil {
				return Catalog{}, fmt.Errorf("audit: catalog entry %d: \"Release Date\" is %s, not a string", i, d)
			}
			at, err := time.Parse("Jan 02 2006", s)
			if err != nil {
				return Catalog{}, fmt.Errorf("audit: catalog entry %d: \"Release Date\" is %q, not a date like \"Jun 12 1998\"", i, s)
			}
			t.Year = at.Year()
			if t.Year > lastYear {
				t.Year -= 100
			}
		}
		c.Titles = append(c.Titles, t)
	}
	SetPopularity(c.Titles)
	return c, nil
}

// number reads a numeric field of a catalog entry into v; it reports false for a
// missing or null field.
func number(e map[string]json.RawMessage, field string, v *float64) (bool, error) {
	m, ok := e[field]
	if !ok || string(m) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(m, v); err != nil {
		return false, fmt.Errorf("%q is %s, not a number", field, m)
	}
	return true, nil
}

// SetPopularity sets the Popularity of every title from its votes (or, without
// votes, its gross): the share of the other titles ranked below it, ties
// sharing the lower rank, so that the least popular title has 0 and the most
// popular 1. A title with neither counts as the least popular.
func SetPopularity(titles []Title) {
	if len(titles) < 2 {
		for i := range titles {
			titles[i].Popularity = 0.5
		}
		return
	}
	// Rank by votes where known; a title without votes takes the vote count of
	// the voted title whose gross is nearest below its own (or the lowest gross,
	// when none is below), which keeps both scales.
	score := make([]float64, len(titles))
	var byGross []int
	for i, t := range titles {
		if t.Votes > 0 {
			score[i] = float64(t.Votes)
			byGross = append(byGross, i)
		}
	}
	sort.Slice(byGross, func(a, b int) bool { return titles[byGross[a]].Gross < titles[byGross[b]].Gross })
	for i, t := range titles {
		if t.Votes > 0 || t.Gross <= 0 || len(byGross) == 0 {
			continue
		}
		j := sort.Search(len(byGross), func(j int) bool { return titles[byGross[j]].Gross > t.Gross })
		if j > 0 {
			j--
		}
		score[i] = score[byGross[j]]
	}
	order := make([]int, len(titles))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] < score[order[b]] })
	for rank := 0; rank < len(order); {
		end := rank
		for end < len(order) && score[order[end]] == score[order[rank]] {
			end++
		}
		for _, i := range order[rank:end] {
			titles[i].Popularity = float64(rank) / float64(len(titles)-1)
		}
		rank = end
	}
}

// titleName reads a title that may be a string, a number (films called 1776 or
// 300) or null.
func titleName(v json.RawMessage, i int) string {
	var s string
	if json.Unmarshal(v, &s) == nil && s != "" {
		return s
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil && n != "" {
		return n.String()
	}
	return "#" + strconv.Itoa(i)
}
