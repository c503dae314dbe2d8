package collector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/testenv"
)

func TestLimitsDefaults(t *testing.T) {
	cfg, err := parseConfig(t, map[string]string{"VEIL_TOKENS": "fleetA:relay:" + tokenA})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][2]any{
		"min-body-rate":           {cfg.MinBodyRate, Bytes(16 << 10)},
		"body-timeout":            {cfg.BodyTimeout, 10 * time.Second},
		"header-timeout":          {cfg.HeaderTimeout, 10 * time.Second},
		"max-header-bytes":        {cfg.MaxHeaderBytes, Bytes(64 << 10)},
		"max-connections":         {cfg.MaxConnections, 1024},
		"rate-limit":              {cfg.RateLimit, 1000.0},
		"rate-burst":              {cfg.RateBurst, 2000},
		"rate-credentials":        {cfg.RateCredentials, 100000},
		"installation-rate-limit": {cfg.InstallationRateLimit, 10.0},
		"installation-rate-burst": {cfg.InstallationRateBurst, 100},
	} {
		if got[0] != got[1] {
			t.Errorf("--%s defaults to %v, want %v", name, got[0], got[1])
		}
	}
	cfg, err = parseConfig(t, map[string]string{"VEIL_TOKENS": "fleetA:relay:" + tokenA, "VEIL_RATE_LIMIT": "0.5", "VEIL_MIN_BODY_RATE": "0"})
	if err != nil || cfg.RateLimit != 0.5 || cfg.MinBodyRate != 0 {
		t.Errorf("from the environment: rate limit %g, min body rate %d, %v; want 0.5 and 0", cfg.RateLimit, cfg.MinBodyRate, err)
	}
}

func TestLimitsValidateNamesTheBadFlag(t *testing.T) {
	tok := "--tokens-file=" + testenv.File(t, "tokens", "fleetA:relay:"+tokenA+"\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{tok, "--min-body-rate", "-1"}, `invalid value "-1" for flag -min-body-rate`},
		{[]string{tok, "--body-timeout", "0s"}, "--body-timeout: must be positive"},
		{[]string{tok, "--header-timeout", "-1s"}, "--header-timeout: must be positive"},
		{[]string{tok, "--max-header-bytes", "100"}, "--max-header-bytes: between 1KiB and 1GiB"},
		{[]string{tok, "--max-connections", "0"}, "--max-connections: must be positive"},
		{[]string{tok, "--rate-limit", "-1"}, "--rate-limit: requests per second, 0 or more"},
		{[]string{tok, "--rate-limit", "NaN"}, "--rate-limit: requests per second, 0 or more"},
		{[]string{tok, "--rate-burst", "0"}, "--rate-burst: at least 1"},
		{[]string{tok, "--rate-credentials", "0"}, "--rate-credentials: at least 1"},
		{[]string{tok, "--installation-rate-limit", "-2"}, "--installation-rate-limit: requests per second, 0 or more"},
		{[]string{tok, "--installation-rate-burst", "0"}, "--installation-rate-burst: at least 1"},
	} {
		_, err := parseConfig(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args[1:], err, tc.want)
		}
	}
	if _, err := parseConfig(t, nil, tok, "--rate-limit", "0", "--rate-burst", "0", "--installation-rate-limit", "0", "--installation-rate-burst", "0"); err != nil {
		t.Errorf("no rate limit, so no burst: %v", err)
	}
}

// The body deadline, played through clients that send at different paces: a body
// must keep up the minimum rate on average, may fall behind by the body timeout,
// and cannot bank time by sending fast first.
func TestBodyDeadlineFollowsTheMinimumRate(t *testing.T) {
	const (
		rate    = 16 << 10 // --min-body-rate
		window  = 10 * time.Second
		timeout = 60 * time.Second // --read-timeout
	)
	t0 := time.Unix(1_800_000_000, 0)
	// cutAt plays a client that sends first bytes at once, then every bytes each
	// step until stop (0: never stops), and returns when its deadline passes.
	cutAt := func(first, every int, step, stop time.Duration) time.Duration {
		now, limit := t0, t0.Add(timeout)
		d := nextDeadline(t0.Add(window), now, first, rate, window, limit)
		for {
			next := now.Add(step)
			if next.After(d) || (stop > 0 && next.Sub(t0) > stop) {
				return d.Sub(t0)
			}
			now = next
			d = nextDeadline(d, now, every, rate, window, limit)
		}
	}
	for _, tc := range []struct {
		name        string
		got         time.Duration
		least, most time.Duration
	}{
		{"the issue's attack, a byte every 3 s, is cut after the body timeout",
			cutAt(1, 1, 3*time.Second, 0), window, window + time.Millisecond},
		{"a byte every 300 ms too",
			cutAt(1, 1, 300*time.Millisecond, 0), window, window + 10*time.Millisecond},
		{"half the minimum rate falls a body timeout behind after twice the body timeout",
			cutAt(8<<10, 8<<10, time.Second, 0), 2*window - time.Second, 2*window + time.Second},
		{"the minimum rate is cut only by the read timeout",
			cutAt(rate, rate, time.Second, 0), timeout, timeout},
		{"a fast body that stops is cut a body timeout after its last byte",
			cutAt(64<<10, 64<<10, time.Second, 5*time.Second), 15 * time.Second, 15 * time.Second},
		{"4 MiB at once, then a trickle, is cut a body timeout after the burst",
			cutAt(4<<20, 1, 3*time.Second, 0), window, window + time.Millisecond},
	} {
		if tc.got < tc.least || tc.got > tc.most {
			t.Errorf("%s: cut at %s, want %s to %s", tc.name, tc.got, tc.least, tc.most)
		}
	}
	// Without a minimum rate only pauses count.
	if d := nextDeadline(t0.Add(window), t0.Add(5*time.Second), 1, 0, window, t0.Add(timeout)); !d.Equal(t0.Add(15 * time.Second)) {
		t.Errorf("rate 0: deadline %s after a byte at 5s, want 15s", d.Sub(t0))
	}
}

// Each credential has its own bucket; a bucket full again is forgotten, and the
// least recently used one goes when too many are remembered.
func TestLimitersPerCredential(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	ls := newLimiters(2, 2, 3) // 2 per second, bursts of 2, 3 credentials
	for i, want := range []time.Duration{0, 0, 500 * time.Millisecond} {
		if got := ls.take("a", t0); got != want {
			t.Errorf("request %d of a at once: wait %s, want %s", i+1, got, want)
		}
	}
	if got := ls.take("b", t0); got != 0 {
		t.Errorf("b after a's burst: wait %s, want 0 (its own bucket)", got)
	}
	if got := ls.take("a", t0.Add(500*time.Millisecond)); got != 0 {
		t.Errorf("a half a second later: wait %s, want 0", got)
	}
	ls.take("c", t0.Add(10*time.Second))
	if n := ls.remembered(); n != 1 {
		t.Errorf("%d credentials remembered once a and b are full again, want 1", n)
	}
	t1 := t0.Add(time.Minute)
	for _, k := range []string{"x", "x", "y", "z", "w"} {
		ls.take(k, t1)
	}
	if n := ls.remembered(); n != 3 {
		t.Errorf("%d credentials remembered, want at most 3", n)
	}
	if got := ls.take("x", t1); got != 0 {
		t.Errorf("x, forgotten as the least recently used, starts full: wait %s", got)
	}

	s := &Server{limits: newLimiters(1, 1, 3), installLimits: newLimiters(1, 1, 3)}
	relay := context.WithValue(context.Background(), principalKey{}, principal{role: credential.Relay, name: "fleetA"})
	if ls, k := s.credentialOf(relay); ls != s.limits || k != "relay:fleetA" {
		t.Errorf("a relay token counts against %v under %q, want the token limiters under relay:fleetA", ls, k)
	}
	inst := context.WithValue(context.Background(), principalKey{}, principal{role: credential.Installation, name: "srv-7"})
	if ls, k := s.credentialOf(inst); ls != s.installLimits || k != "srv-7" {
		t.Errorf("an installation credential counts against %v under %q, want the installation limiters under srv-7", ls, k)
	}
}
