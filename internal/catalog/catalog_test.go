package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTheDemoCatalogParsesAndHoldsEveryHostedType(t *testing.T) {
	c := Demo()
	types := map[string]int{}
	for _, it := range c.Items(Hosted) {
		types[it.Type]++
		if got, ok := c.Lookup(Hosted, it.ID); !ok || got != it.ID {
			t.Fatalf("Lookup(%q) = %q, %v", it.ID, got, ok)
		}
	}
	for _, ty := range HostedTypes {
		if types[ty] == 0 {
			t.Errorf("the demo catalog has no %s", ty)
		}
	}
	if c.Len(Campaign) == 0 {
		t.Error("the demo catalog has no campaign")
	}
	if _, ok := c.Lookup(Hosted, "/srv/media/Movies/Heat (1995).mkv"); ok {
		t.Error("a path is in the hosted set")
	}
	if _, ok := c.Lookup(Campaign, c.Items(Hosted)[0].ID); ok {
		t.Error("a hosted id is in the campaign set")
	}
}

func TestParseRefusesWhatItCannotReadExactly(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not an object", `[]`, "want a JSON object"},
		{"an unknown set", `{"films": []}`, `unknown set "films"`},
		{"a hosted item without a type", `{"hosted": [{"id": "a"}]}`, "type must be one of"},
		{"a hosted item of an unknown type", `{"hosted": [{"id": "a", "type": "film"}]}`, `got "film"`},
		{"a campaign with a type", `{"campaign": [{"id": "a", "type": "ad"}]}`, "campaigns have no type"},
		{"an empty id", `{"campaign": [{"id": ""}]}`, "id must be 1-128 bytes"},
		{"an id listed twice", `{"campaign": [{"id": "a"}, {"id": "a"}]}`, `id "a" is listed twice`},
		{"an unknown item field", `{"campaign": [{"id": "a", "title": "x"}]}`, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAnEmptyPathIsAnEmptyCatalog(t *testing.T) {
	l, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Lookup(Hosted, "livetv:channel-1"); ok {
		t.Error("an empty catalog holds an id")
	}
	if err := l.Follow(context.Background(), time.Millisecond, nil); err != nil {
		t.Errorf("Follow of no file = %v", err)
	}
}

// Live reloads a changed file, and keeps the last good catalog when the file
// turns bad or disappears.
func TestLiveFollowsItsFileAndKeepsTheLastGoodCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.json")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"campaign": [{"id": "2026-11-holiday"}]}`)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Lookup(Campaign, "2026-11-holiday"); !ok {
		t.Fatal("the first catalog is not in use")
	}
	var mu sync.Mutex
	var reports []error
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, 5*time.Millisecond, func(_ *Catalog, err error) {
			mu.Lock()
			reports = append(reports, err)
			mu.Unlock()
		})
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	write(`{"campaign": [{"id": "2027-01-new-year"}, {"id": "2026-11-holiday-extended"}]}`)
	waitFor("the new catalog", func() bool { _, ok := l.Lookup(Campaign, "2027-01-new-year"); return ok })
	if _, ok := l.Lookup(Campaign, "2026-11-holiday"); ok {
		t.Error("an id removed from the file is still held")
	}
	write(`{"campaign": [{"id": "x"}, {"id": "x"}]} broken`)
	waitFor("a failed reload", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) > 0 && reports[len(reports)-1] != nil
	})
	if _, ok := l.Lookup(Campaign, "2027-01-new-year"); !ok {
		t.Error("a bad file replaced the last good catalog")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	n := func() int { mu.Lock(); defer mu.Unlock(); return len(reports) }()
	waitFor("a report of the missing file", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) > n && errors.Is(reports[len(reports)-1], os.ErrNotExist)
	})
	if _, ok := l.Lookup(Campaign, "2027-01-new-year"); !ok {
		t.Error("a missing file emptied the catalog")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow = %v after cancel, want nil", err)
	}
}

func TestOpenFailsOnAMissingOrBadFile(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(`{"hosted": [{"id": "a"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a bad file = %v, want an error naming the file", err)
	}
}
