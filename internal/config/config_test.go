package config_test

import (
	"bytes"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/config"
)

// This package has no golden files; it accepts -update so that the project-wide
// go test ./... -update runs.
var _ = flag.Bool("update", false, "no effect in this package")

type settings struct {
	brokers    config.List
	topicRaw   string
	partitions int
	create     bool
	wait       time.Duration
}

func flags(s *settings) *flag.FlagSet {
	fs := flag.NewFlagSet("veil-test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.brokers = config.List{"127.0.0.1:9092"}
	fs.Var(&s.brokers, "brokers", "Kafka brokers")
	fs.StringVar(&s.topicRaw, "topic-raw", "telemetry.raw.v1", "raw topic")
	fs.IntVar(&s.partitions, "partitions", 8, "partitions")
	fs.BoolVar(&s.create, "create-topics", false, "create topics")
	fs.DurationVar(&s.wait, "max-wait", 200*time.Millisecond, "batch wait")
	return fs
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"brokers":          "VEIL_BROKERS",
		"topic-raw":        "VEIL_TOPIC_RAW",
		"create-topics":    "VEIL_CREATE_TOPICS",
		"clickhouse-dsn-2": "VEIL_CLICKHOUSE_DSN_2",
	} {
		if got := config.EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	defaults := settings{brokers: config.List{"127.0.0.1:9092"}, topicRaw: "telemetry.raw.v1", partitions: 8, wait: 200 * time.Millisecond}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want settings
	}{
		{"without flags or environment the defaults stay", nil, nil, defaults},
		{"the environment fills flags not given", nil,
			map[string]string{"VEIL_BROKERS": "k1:9092, k2:9092", "VEIL_TOPIC_RAW": "raw.test", "VEIL_PARTITIONS": "3", "VEIL_CREATE_TOPICS": "true", "VEIL_MAX_WAIT": "1s"},
			settings{brokers: config.List{"k1:9092", "k2:9092"}, topicRaw: "raw.test", partitions: 3, create: true, wait: time.Second}},
		{"the command line wins over the environment", []string{"--partitions=12", "-brokers", "cli:9092"},
			map[string]string{"VEIL_PARTITIONS": "3", "VEIL_BROKERS": "env:9092", "VEIL_TOPIC_RAW": "raw.env"},
			settings{brokers: config.List{"cli:9092"}, topicRaw: "raw.env", partitions: 12, wait: 200 * time.Millisecond}},
		{"a flag given with its default value still wins over the environment", []string{"--partitions=8"},
			map[string]string{"VEIL_PARTITIONS": "3"}, defaults},
		{"variables without the VEIL_ prefix are ignored", nil,
			map[string]string{"PARTITIONS": "3", "veil_partitions": "4", "BROKERS": "x:1"}, defaults},
		{"an empty variable sets an empty value", nil,
			map[string]string{"VEIL_TOPIC_RAW": ""},
			settings{brokers: config.List{"127.0.0.1:9092"}, partitions: 8, wait: 200 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got settings
			fs := flags(&got)
			if err := config.Parse(fs, tt.args, config.MapLookup(tt.env)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"a bad integer in the environment names its variable", nil,
			map[string]string{"VEIL_PARTITIONS": "eight"}, []string{"VEIL_PARTITIONS", `"eight"`}},
		{"a bad boolean in the environment names its variable", nil,
			map[string]string{"VEIL_CREATE_TOPICS": "maybe"}, []string{"VEIL_CREATE_TOPICS", `"maybe"`}},
		{"a bad duration in the environment names its variable", nil,
			map[string]string{"VEIL_MAX_WAIT": "5 parsecs"}, []string{"VEIL_MAX_WAIT"}},
		{"a bad value on the command line is an error", []string{"--partitions=eight"}, nil, []string{"partitions"}},
		{"an unknown flag is an error", []string{"--no-such-flag"}, nil, []string{"no-such-flag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
			err := config.Parse(flags(&s), tt.args, config.MapLookup(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestABadEnvironmentValueIsNotReportedForAFlagGivenOnTheCommandLine(t *testing.T) {
	var s settings
	err := config.Parse(flags(&s), []string{"--partitions=5"}, config.MapLookup(map[string]string{"VEIL_PARTITIONS": "eight"}))
	if err != nil || s.partitions != 5 {
		t.Errorf("Parse = %v with partitions %d; want the command line's 5 and no error", err, s.partitions)
	}
}

func TestUsageNamesTheEnvironmentVariables(t *testing.T) {
	var s settings
	fs := flags(&s)
	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := config.Parse(fs, []string{"-h"}, config.MapLookup(nil)); err != flag.ErrHelp {
		t.Fatalf("Parse(-h) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--topic-raw", "[VEIL_TOPIC_RAW]", "(default telemetry.raw.v1)", "[VEIL_BROKERS]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want config.List
	}{
		{"one item", "k1:9092", config.List{"k1:9092"}},
		{"items are split on commas", "k1:9092,k2:9092,k3:9092", config.List{"k1:9092", "k2:9092", "k3:9092"}},
		{"spaces around items are trimmed", " k1:9092 , k2:9092 ", config.List{"k1:9092", "k2:9092"}},
		{"empty items are skipped", "k1:9092,,k2:9092,", config.List{"k1:9092", "k2:9092"}},
		{"an empty string is an empty list", "", nil},
		{"only commas and spaces is an empty list", " , ,", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := config.List{"default:1"}
			if err := l.Set(tt.in); err != nil {
				t.Fatalf("Set(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(l, tt.want) {
				t.Errorf("Set(%q) = %#v, want %#v (the default replaced)", tt.in, l, tt.want)
			}
			if got, want := l.String(), strings.Join(tt.want, ","); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
		})
	}
}
