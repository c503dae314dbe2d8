package geo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/veiltelemetry/veil/internal/geo"
)

// writeDB writes data to a temporary file and opens it as a database.
func writeDB(t *testing.T, data []byte) *geo.MMDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.mmdb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := geo.OpenMMDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tinyDB builds a database of the given ranges, the way tests make an IP database.
func tinyDB(t *testing.T, ranges ...geo.Range) (*geo.MMDB, geo.BuildStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := geo.WriteMMDB(&buf, ranges, geo.MMDBOptions{Description: "test"})
	if err != nil {
		t.Fatalf("WriteMMDB: %v", err)
	}
	if st.Bytes != int64(buf.Len()) {
		t.Errorf("BuildStats.Bytes = %d, wrote %d", st.Bytes, buf.Len())
	}
	return writeDB(t, buf.Bytes()), st
}

func rng(lo, hi, country, sub string) geo.Range {
	return geo.Range{Low: netip.MustParseAddr(lo), High: netip.MustParseAddr(hi), Country: country, Subdivision: sub}
}

func open(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

type lookup struct {
	name, ip, country, region string
}

// checkLookups looks every address up twice, the second time answered from
// the database's cache of decoded places, and then again from several
// goroutines at once.
func checkLookups(t *testing.T, db *geo.MMDB, tests []lookup) {
	t.Helper()
	check := func(t *testing.T, tt lookup, pass string) {
		c, r, ok := db.Lookup(netip.MustParseAddr(tt.ip))
		if c != tt.country || r != tt.region || ok != (tt.country != "") {
			t.Errorf("%s Lookup(%s) = %q, %q, %v; want %q, %q, %v", pass, tt.ip, c, r, ok, tt.country, tt.region, tt.country != "")
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt, "first")
			check(t, tt, "second (cached)")
		})
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tt := range slices.Backward(tests) {
				check(t, tt, "concurrent")
			}
		}()
	}
	wg.Wait()
}

func TestBuildMMDBFromTorFixtures(t *testing.T) {
	var buf bytes.Buffer
	n, err := geo.BuildMMDB(&buf, open(t, "testdata/geoip"), open(t, "testdata/geoip6"))
	if err != nil {
		t.Fatalf("BuildMMDB: %v", err)
	}
	// 6 IPv4 lines of which EU and ?? have no country; 3 IPv6 lines of which ?? has none.
	if n != 4+2 {
		t.Errorf("BuildMMDB wrote %d ranges, want 6", n)
	}
	checkLookups(t, writeDB(t, buf.Bytes()), []lookup{
		{"an address inside an IPv4 range has its country", "81.2.69.160", "GB", ""},
		{"the first address of a range is inside it", "81.2.64.0", "GB", ""},
		{"the last address of a range is inside it", "81.2.127.255", "GB", ""},
		{"the address before a range is outside it", "81.2.63.255", "", ""},
		{"the address after a range is outside it", "81.2.128.0", "", ""},
		{"a one-/24 range is found", "1.1.1.1", "AU", ""},
		{"a range that is not CIDR-aligned is found at its start", "193.0.0.1", "NL", ""},
		{"a range that is not CIDR-aligned is found at its end", "193.0.23.255", "NL", ""},
		{"the file's UK is stored as GB", "62.157.249.17", "GB", ""},
		{"a range registered to EU has no country", "2.16.0.1", "", ""},
		{"a range marked ?? has no country", "15.254.245.150", "", ""},
		{"an IPv4-mapped IPv6 address is found as IPv4", "::ffff:81.2.69.160", "GB", ""},
		{"a 6to4 address is found by its embedded IPv4 address", "2002:5102:45a0::1", "GB", ""},
		{"an address inside an IPv6 range has its country", "2001:67c:2e8:22::c100:68b", "NL", ""},
		{"an IPv6 range that is not CIDR-aligned is found at its end", "2a01:4f9:2a:dda:ffff:ffff:ffff:ffff", "DE", ""},
		{"the IPv6 address after a range is outside it", "2a01:4f9:2a:ddb::", "", ""},
		{"an IPv6 address in no range is unknown", "2400:cb00::1", "", ""},
	})
}

func TestWriteMMDBSubdivisionsAndReservedNetworks(t *testing.T) {
	db, st := tinyDB(t,
		rng("81.2.69.0", "81.2.69.255", "GB", "ENG"),
		rng("81.2.70.0", "81.2.70.255", "GB", ""),
		rng("10.0.0.0", "11.255.255.255", "US", ""),     // half private: 10/8 is left out
		rng("192.168.0.0", "192.168.255.255", "DE", ""), // wholly private
		rng("2001:db8::", "2001:db8::ffff", "FR", ""),   // documentation
		rng("5.5.5.0", "5.5.5.255", "", ""),             // no country
		rng("5.5.5.128", "5.5.5.255", "IT", ""),
		rng("5.5.5.192", "5.5.5.255", "ES", ""), // overlaps: the later range wins
	)
	if st.Ranges != 7 || st.Unknown != 1 {
		t.Errorf("stats = %+v, want 7 ranges written and 1 unknown", st)
	}
	// 10.0.0.0-11.255.255.255 is the single block 10/7, whose private half is left
	// out silently; the private /16 and the documentation /112 are counted.
	if st.Reserved != 2 {
		t.Errorf("stats = %+v, want 2 blocks counted as reserved", st)
	}
	checkLookups(t, db, []lookup{
		{"a subdivision is returned as country-subdivision", "81.2.69.160", "GB", "GB-ENG"},
		{"a range without a subdivision gives the country only", "81.2.70.1", "GB", ""},
		{"the public half of a range that spans a private network is written", "11.1.2.3", "US", ""},
		{"the private half of that range is left out", "10.1.2.3", "", ""},
		{"a wholly private range is left out", "192.168.1.1", "", ""},
		{"a documentation IPv6 range is left out", "2001:db8::1", "", ""},
		{"a range without a country is left out", "5.5.5.1", "", ""},
		{"a later range overrides an earlier one where they overlap", "5.5.5.200", "ES", ""},
		{"an earlier range keeps what no later range covers", "5.5.5.130", "IT", ""},
	})
}

func TestParseTorGeoIPNotes(t *testing.T) {
	rs, notes, err := geo.ParseTorGeoIP(open(t, "testdata/geoip"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 {
		t.Errorf("got %d ranges, want every data line (6), the countryless ones with Country \"\"", len(rs))
	}
	if notes["License"] != "CC BY-SA 4.0" || notes["Vendor"] != "IPFire Project" {
		t.Errorf("notes = %v, want the License and Vendor of the header", notes)
	}
}

// Every file in testdata/bad is refused with the error its first line names.
func TestParseTorGeoIPRejects(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.geoip")
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata/bad")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# error: ")
			if !ok {
				t.Fatalf("first line %q does not say which error is expected", first)
			}
			rs, _, err := geo.ParseTorGeoIP(bytes.NewReader(data))
			if err == nil {
				t.Fatalf("accepted, with %d ranges; want an error containing %q", len(rs), want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if _, err := geo.BuildMMDB(io.Discard, bytes.NewReader(data)); err == nil {
				t.Errorf("BuildMMDB accepted what ParseTorGeoIP refuses")
			}
		})
	}
}

// TestBuildTorGeoIPDB builds the full database from Debian's tor-geoipdb package
// (scripts/test installs it) and checks a few well-known addresses.
func TestBuildTorGeoIPDB(t *testing.T) {
	from := []string{"/usr/share/tor/geoip", "/usr/share/tor/geoip6"}
	for _, p := range from {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing: install Debian's tor-geoipdb (scripts/test does)", p)
			}
			t.Skipf("%s is missing: skipping the full-database test (apt-get install tor-geoipdb, or run scripts/test)", p)
		}
	}
	out := filepath.Join(t.TempDir(), "veil-country.mmdb")
	var progress bytes.Buffer
	st, err := geo.BuildFile(context.Background(), out, from, &progress)
	if err != nil {
		t.Fatalf("BuildFile: %v", err)
	}
	report := progress.String()
	t.Logf("%s", report)
	if st.Ranges < 100_000 {
		t.Errorf("only %d ranges with a country; the package holds hundreds of thousands", st.Ranges)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != st.Bytes || fi.Size() < 1<<20 {
		t.Errorf("database file: %v, %v; want %d bytes (over 1 MiB)", fi, err, st.Bytes)
	}
	if lines := strings.Count(report, "\n"); lines != len(from)+1 || !strings.Contains(report, "wrote "+out) {
		t.Errorf("progress = %q, want a line per source and a summary naming the file", report)
	}
	db, err := geo.OpenMMDB(out)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkLookups(t, db, []lookup{
		{"Google's public resolver is in the US", "8.8.8.8", "US", ""},
		{"the RIPE NCC is in the Netherlands", "193.0.6.139", "NL", ""},
		{"the University of Tokyo's 133/8 is in Japan", "133.11.0.1", "JP", ""},
		{"NIC.br is in Brazil", "200.160.2.3", "BR", ""},
		{"MaxMind's GB test address is in Great Britain", "81.2.69.160", "GB", ""},
		{"Comcast's 73/8 is in the US", "73.1.2.3", "US", ""},
		{"an IPv4-mapped address is found as IPv4", "::ffff:8.8.8.8", "US", ""},
		{"Google's IPv6 is in the US", "2001:4860:4860::8888", "US", ""},
		{"Hetzner's IPv6 is in Germany", "2a01:4f8::1", "DE", ""},
		{"the RIPE NCC's IPv6 is in the Netherlands", "2001:67c:2e8:22::c100:68b", "NL", ""},
		{"a private address is nowhere", "192.168.1.1", "", ""},
		{"a documentation address is nowhere", "203.0.113.5", "", ""},
	})
}

// An interrupted build returns its context's cause and leaves nothing behind:
// no database, no temporary file.
func TestBuildFileInterruptedLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	stop := errors.New("interrupted by test")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(stop)
	_, err := geo.BuildFile(ctx, filepath.Join(dir, "country.mmdb"), []string{"testdata/geoip"}, io.Discard)
	if !errors.Is(err, stop) {
		t.Errorf("BuildFile = %v, want its context's cause", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
