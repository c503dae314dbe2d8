package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Title is one film of the catalog.
type Title struct {
	Name    string
	Minutes int // running time in whole minutes, > 0
}

// Catalog is the films with a running time, and how many were left out.
type Catalog struct {
	Titles  []Title
	Skipped int // entries without a running time
}

// LoadCatalog reads a JSON array of objects with "Title" and "Running Time min"
// (vega-datasets' data/movies.json). An entry whose running time is null, missing
// or not positive is skipped and counted; one that is not a number, or a document
// that is not an array of objects, is an error: the audit refuses to measure a
// catalog it misread.
func LoadCatalog(r io.Reader) (Catalog, error) {
	var raw []map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return Catalog{}, fmt.Errorf("audit: catalog: want a JSON array of objects: %w", err)
	}
	var c Catalog
	for i, e := range raw {
		rt, ok := e["Running Time min"]
		if !ok || string(rt) == "null" {
			c.Skipped++
			continue
		}
		var minutes float64
		if err := json.Unmarshal(rt, &minutes); err != nil {
			return Catalog{}, fmt.Errorf("audit: catalog entry %d: \"Running Time min\" is %s, not a number", i, rt)
		}
		if minutes <= 0 {
			c.Skipped++
			continue
		}
		c.Titles = append(c.Titles, Title{Name: titleName(e["Title"], i), Minutes: int(minutes + 0.5)})
	}
	return c, nil
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
