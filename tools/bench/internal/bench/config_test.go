package bench

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func configFrom(t *testing.T, args ...string) Config {
	t.Helper()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c Config
	c.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheDefaultsAreValid(t *testing.T) {
	c := configFrom(t)
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c = c.withDefaults(time.Unix(1700000000, 0))
	if c.Database != "bench_1700000000" || c.TopicPrefix != "bench-1700000000" || c.StageEvents != 300000 {
		t.Errorf("run defaults: db %q topics %q stage events %d", c.Database, c.TopicPrefix, c.StageEvents)
	}
	if !c.Collector || c.Partitions != 8 || c.Duration != time.Minute || c.Compression != "lz4" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestValidateNamesTheBadFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--compression", "brotli"}, "--compression"},
		{[]string{"--clickhouse-compression", "gzip"}, "--clickhouse-compression"},
		{[]string{"--skip", "baselines,warmup"}, "--skip"},
		{[]string{"--duration", "10ms"}, "--duration"},
		{[]string{"--baseline-events", "10"}, "--baseline-events"},
		{[]string{"--partitions", "0"}, "--partitions"},
		{[]string{"--clickhouse-db", "bench-1; DROP"}, "--clickhouse-db"},
		{[]string{"--gomaxprocs", "-1"}, "--gomaxprocs"},
	}
	for _, tt := range tests {
		c := configFrom(t, tt.args...)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: Validate = %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
}

// The command line recorded with the results can be pasted into a shell.
func TestShellJoinQuotesWhatAShellWouldSplit(t *testing.T) {
	got := ShellJoin([]string{"scripts/bench", "--duration", "20s", "--skip", "baselines,stages", "--note", "two words", "it's", ""})
	want := `scripts/bench --duration 20s --skip baselines,stages --note 'two words' 'it'\''s' ''`
	if got != want {
		t.Errorf("ShellJoin = %s\nwant        %s", got, want)
	}
}
