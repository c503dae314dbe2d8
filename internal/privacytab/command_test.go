package privacytab_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/privacytab"
)

func TestCommandFlagsAndFormats(t *testing.T) {
	fs := flag.NewFlagSet("privacy", flag.ContinueOnError)
	run := privacytab.Command(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), nil, &out); err != nil {
		t.Fatalf("default run: %v", err)
	}
	if !strings.HasPrefix(out.String(), "# What we collect, and what we do with it\n") {
		t.Errorf("the default is not Markdown on standard output: %.80q", out.String())
	}

	dir := t.TempDir()
	for _, format := range []string{"html", "json", "markdown"} {
		path := filepath.Join(dir, "privacy."+format)
		if err := privacytab.Write(privacytab.Config{Format: format, Out: path}, nil); err != nil {
			t.Fatalf("--format %s --out: %v", format, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch format {
		case "html":
			if !bytes.HasPrefix(data, []byte("<!doctype html>")) {
				t.Errorf("html: %.40q", data)
			}
		case "json":
			if !json.Valid(data) {
				t.Errorf("json: not valid JSON")
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	for _, tt := range []struct {
		cfg privacytab.Config
		err string
	}{
		{privacytab.Config{Format: "pdf"}, `--format: want markdown, html or json, got "pdf"`},
		{privacytab.Config{Format: "json", GeoIP: filepath.Join(dir, "missing.mmdb")}, "--geoip"},
		{privacytab.Config{Format: "json", Out: filepath.Join(dir, "no-such-dir", "x.json")}, "--out"},
	} {
		if err := privacytab.Write(tt.cfg, &out); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Write(%+v) = %v, want an error containing %q", tt.cfg, err, tt.err)
		}
	}
}

// With --geoip the example IP address is located through the database, which shows
// the example runs the real locator.
func TestGeoIPLocatesTheExampleAddress(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tiny.mmdb")
	f, err := os.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = geo.WriteMMDB(f, []geo.Range{{
		Low: netip.MustParseAddr("81.2.69.0"), High: netip.MustParseAddr("81.2.69.255"), Country: "GB", Subdivision: "ENG",
	}}, geo.MMDBOptions{Built: time.Unix(0, 0)})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := privacytab.Write(privacytab.Config{Format: "json", GeoIP: db}, &out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Events []struct {
			Kind    string `json:"kind"`
			Example struct {
				Sent map[string]any `json:"sent"`
				Kept map[string]any `json:"kept"`
			} `json:"example"`
		} `json:"events"`
		Notes []string `json:"notes"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc.Events {
		if e.Kind != "crash" {
			continue
		}
		if e.Example.Sent["client_ip"] != "81.2.69.160" || e.Example.Kept["country"] != "GB" || e.Example.Kept["region"] != "GB-ENG" {
			t.Errorf("crash: sent %v, kept country %v region %v; want 81.2.69.160 located in GB-ENG",
				e.Example.Sent["client_ip"], e.Example.Kept["country"], e.Example.Kept["region"])
		}
	}
	for _, n := range doc.Notes {
		if strings.Contains(n, "without an IP address database") {
			t.Errorf("the notes still say there is no IP database: %q", n)
		}
	}
}
