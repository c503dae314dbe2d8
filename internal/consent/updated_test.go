package consent

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// updated_at says when the opt-outs were set, to the hour, in the record kept
// in Kafka and in both answers; an installation without opt-outs has none.
func TestUpdatedAtIsTheHourTheOptOutsWereSet(t *testing.T) {
	w := &recorder{}
	a, h := newTestAPI(w, nil)
	a.Now = func() time.Time { return time.Date(2026, 11, 24, 10, 37, 12, 500, time.FixedZone("CET", 3600)) }
	const hour = "2026-11-24T09:00:00Z"

	code, got, _ := do(t, h, "PUT", "/v1/consent/inst-1", "application/json", `{"opt_out":["crash"]}`)
	if code != http.StatusOK || got["updated_at"] != hour {
		t.Errorf("PUT = %d %v, want updated_at %s", code, got, hour)
	}
	var rec Record
	if err := json.Unmarshal(w.msgs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	if want, _ := time.Parse(time.RFC3339, hour); !rec.UpdatedAt.Equal(want) {
		t.Errorf("the record kept in Kafka says %s, want the hour %s", rec.UpdatedAt, hour)
	}
	if code, got, _ = do(t, h, "GET", "/v1/consent/inst-1", "", ""); code != http.StatusOK || got["updated_at"] != hour {
		t.Errorf("GET = %d %v, want updated_at %s", code, got, hour)
	}

	// A record written with an exact time (before it was coarsened) is
	// answered to the hour too.
	exact, _ := json.Marshal(Record{Installation: "inst-2", OptOut: []string{"marketing"}, UpdatedAt: time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)})
	if err := a.Store.Apply([]byte("inst-2"), exact); err != nil {
		t.Fatal(err)
	}
	if _, got, _ = do(t, h, "GET", "/v1/consent/inst-2", "", ""); got["updated_at"] != "2026-03-01T23:00:00Z" {
		t.Errorf("GET of an exact record: updated_at %v, want 2026-03-01T23:00:00Z", got["updated_at"])
	}

	// No opt-outs, no time: never set, or opted back in (the record is gone).
	if _, got, _ = do(t, h, "GET", "/v1/consent/never-set", "", ""); got["updated_at"] != nil {
		t.Errorf("GET without opt-outs: updated_at %v, want none", got["updated_at"])
	}
	if _, got, _ = do(t, h, "PUT", "/v1/consent/inst-1", "", `{"opt_out":[]}`); got["updated_at"] != nil {
		t.Errorf("PUT opting back in: updated_at %v, want none", got["updated_at"])
	}
	if _, got, _ = do(t, h, "GET", "/v1/consent/inst-1", "", ""); got["updated_at"] != nil {
		t.Errorf("GET after opting back in: updated_at %v, want none", got["updated_at"])
	}
}
