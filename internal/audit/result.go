package audit

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/veiltelemetry/veil/schemas"
)

// CatalogName names the catalog the recorded result was measured on; scripts/catalog
// pins its version.
const CatalogName = "vega-datasets 3.2.1, data/movies.json"

// Command reproduces the recorded result: the default run of the audit.
const Command = `enricher audit --catalog "$(scripts/catalog)"`

// Result is what the privacy tab states of the audit: the default run (Command)
// on the pinned catalog, recorded in result.json by
// `VEIL_CATALOG="$(scripts/catalog)" go test ./internal/audit -update`. The tab
// is built where the catalog is not at hand (producer serve), so it reads this
// record; a test recomputes it and fails when it differs.
type Result struct {
	Command       string   `json:"command"`
	Catalog       string   `json:"catalog"`
	CatalogSHA256 string   `json:"catalog_sha256"`
	Titles        int      `json:"titles"`
	Kind          string   `json:"kind"`
	Tuple         []string `json:"tuple"`
	// Policy is the Digest of the schemas and policy the result was measured
	// under: the tab refuses a result recorded for another policy.
	Policy    string           `json:"policy"`
	Seeds     []uint64         `json:"seeds"`
	Targets   Targets          `json:"targets"`
	Scenarios []ResultScenario `json:"scenarios"`
	Pass      bool             `json:"pass"`
}

// ResultScenario is one scenario of a recorded result: the worst seed's clean
// figures and the spread of every tuple over the seeds.
type ResultScenario struct {
	FilesPerTitle int    `json:"files_per_title"`
	Targeted      bool   `json:"targeted"`
	WorstSeed     uint64 `json:"worst_seed"`
	Worst         Stats  `json:"worst"` // the clean tuple in the worst seed, without its rarest cells
	Clean         Spread `json:"clean"`
	Raw           Spread `json:"raw"`
	Minutes       Spread `json:"exact_minutes"`
}

// Result condenses the report of a run on the catalog whose bytes hash to
// catalogSHA256, under the policy of Digest policy.
func (r Report) Result(catalogSHA256, policy string) Result {
	res := Result{
		Command: Command, Catalog: CatalogName, CatalogSHA256: catalogSHA256, Titles: r.CatalogTitles,
		Kind: r.Kind, Tuple: r.Tuple, Policy: policy, Seeds: r.Seeds, Targets: r.Targets, Pass: r.Pass,
	}
	for _, sc := range r.Scenarios {
		w := sc.Worst().Clean
		w.Rarest = nil
		res.Scenarios = append(res.Scenarios, ResultScenario{
			FilesPerTitle: sc.FilesPerTitle, Targeted: sc.Targeted, WorstSeed: sc.WorstSeed, Worst: w,
			Clean: sc.Clean, Raw: sc.Raw, Minutes: sc.Minutes,
		})
	}
	return res
}

// JSON is the result as result.json holds it.
func (r Result) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	return append(b, '\n'), err
}

// Targeted returns the scenario the targets apply to (one file per title).
func (r Result) Targeted() (ResultScenario, bool) {
	for _, sc := range r.Scenarios {
		if sc.Targeted {
			return sc, true
		}
	}
	return ResultScenario{}, false
}

//go:embed result.json
var resultJSON []byte

// Recorded returns the result recorded in result.json, embedded in the binary.
func Recorded() (Result, error) { return ParseResult(resultJSON) }

// ParseResult reads a result in the form of result.json.
func ParseResult(data []byte) (Result, error) {
	var r Result
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Result{}, fmt.Errorf("audit: result.json: %w", err)
	}
	if _, ok := r.Targeted(); !ok || r.Policy == "" {
		return Result{}, fmt.Errorf("audit: result.json has no targeted scenario or no policy digest")
	}
	return r, nil
}

// Digest fingerprints what the policy of reg does to the media fields the audit
// measures: the tuple's fields, and the clean tuple the policy writes for a fixed
// grid of raw values (each media field of a base record of every media type varied
// in turn over every enum symbol, every value and spelling of its domain and a
// dense ladder of numbers). A change of a family, a bucket or the tuple changes
// it, so a recorded result can be checked against the policy without the film
// catalog. It uses integers only: it is the same on every platform.
func Digest(reg *schemas.Registry) (string, error) {
	tup, err := NewTuple(reg)
	if err != nil {
		return "", err
	}
	raw := tup.kp.Raw
	h := sha256.New()
	for _, f := range tup.Fields {
		h.Write([]byte(f + "\x00"))
	}
	k := tup.keyer()
	var numbers []int64
	for n := int64(1); n < 1<<42; n += n/100 + 1 {
		numbers = append(numbers, n)
	}
	numbers = append(numbers, 0, -1)
	mt := raw.Index("media_type")
	if mt < 0 || raw.Type(mt) != schemas.TEnum {
		return "", fmt.Errorf("audit: %s has no media_type enum", raw.File)
	}
	for _, mediaType := range raw.Symbols(mt) {
		base := Encode{Container: "mkv", VideoCodec: "h264", AudioCodec: "aac", DurationMs: 100 * 60_000, BitrateKbps: 8000,
			SizeBytes: 6 << 30, Width: 1920, Height: 1080}.Fields()
		base["media_type"] = mediaType
		in, err := raw.ToFlat(base)
		if err != nil {
			return "", fmt.Errorf("audit: digest: %w", err)
		}
		for _, i := range tup.in {
			f := raw.Fields[i]
			var probes []schemas.Value
			switch raw.Type(i) {
			case schemas.TEnum:
				for n := range raw.Symbols(i) {
					probes = append(probes, schemas.Value{N: int64(n)})
				}
			case schemas.TString:
				for _, s := range []string{"", "not in any domain", "local:heat-1995", "trailer:tt0083658-2"} {
					probes = append(probes, schemas.Value{S: s})
				}
				if d := f.Domain; d != nil {
					for _, v := range d.Values {
						probes = append(probes, schemas.Value{S: v})
						for _, s := range d.Spellings(v) {
							probes = append(probes, schemas.Value{S: s})
						}
					}
				}
			case schemas.TInt, schemas.TLong:
				for _, n := range numbers {
					if raw.Type(i) == schemas.TLong || n < 1<<31 {
						probes = append(probes, schemas.Value{N: n})
					}
				}
			default:
				return "", fmt.Errorf("audit: %s: media field %q has a type the digest cannot probe", raw.File, f.Name)
			}
			saved := in[i]
			for _, p := range probes {
				in[i] = p
				if k.out, err = tup.kp.ApplyFlat(in, k.out); err != nil {
					return "", fmt.Errorf("audit: digest probe of %q: %w", f.Name, err)
				}
				for _, o := range tup.out {
					v := k.out[o]
					h.Write([]byte(v.S))
					h.Write(binary.AppendVarint([]byte{0}, v.N))
				}
			}
			in[i] = saved
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
