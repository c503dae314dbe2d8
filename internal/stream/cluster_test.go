package stream_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/stream"
)

func TestNewCluster(t *testing.T) {
	plain, err := stream.NewCluster([]string{"b:9092"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// A nil *kafka.Transport in the interface would not be nil: kafka-go would
	// use it instead of its default transport and crash.
	if plain.Authenticated() || plain.RoundTripper() != nil || plain.Dialer() != nil {
		t.Errorf("a cluster without a user authenticates: %v %v %v", plain.Authenticated(), plain.RoundTripper(), plain.Dialer())
	}
	if c := plain.Client(0); c.Transport != nil {
		t.Errorf("a PLAINTEXT client has transport %v, want kafka-go's default", c.Transport)
	}
	sasl, err := stream.NewCluster([]string{"b:9092"}, "veil-sink", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !sasl.Authenticated() || sasl.RoundTripper() == nil || sasl.Dialer() == nil || sasl.Dialer().SASLMechanism.Name() != stream.Mechanism {
		t.Error("a cluster with a user does not authenticate with SCRAM-SHA-512 everywhere")
	}
	for _, s := range []string{sasl.String(), fmt.Sprintf("%v", sasl), fmt.Sprintf("%+v", sasl)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("the cluster prints its password: %s", s)
		}
	}
	if _, err := stream.NewCluster([]string{"b:9092"}, "", "s3cret"); err == nil {
		t.Error("a password without a user was accepted")
	}
	if _, err := stream.NewCluster([]string{"b:9092"}, "veil-sink", ""); err == nil {
		t.Error("a user without a password was accepted")
	}
}

func TestKafkaFlagsTakeThePasswordFromAFileOrTheEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(args []string, env map[string]string) (stream.Kafka, error) {
		var k stream.Kafka
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(&strings.Builder{})
		k.Register(fs)
		if err := config.Parse(fs, args, config.MapLookup(env)); err != nil {
			return k, err
		}
		return k, k.Validate()
	}
	k, err := parse([]string{"--kafka-user", "veil-sink", "--kafka-password-file", file}, nil)
	if err != nil || k.User != "veil-sink" || k.Password.Value() != "from-file" {
		t.Errorf("from a file: %q %q %v", k.User, k.Password.Value(), err)
	}
	k, err = parse(nil, map[string]string{"VEIL_KAFKA_USER": "veil-sink", "VEIL_KAFKA_PASSWORD": "from-env"})
	if err != nil || k.Password.Value() != "from-env" {
		t.Errorf("from the environment: %q %v", k.Password.Value(), err)
	}
	if _, err := parse([]string{"--kafka-user", "veil-sink"}, nil); err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("a user without a password: %v", err)
	}
	if _, err := parse(nil, map[string]string{"VEIL_KAFKA_PASSWORD": "x"}); err == nil || !strings.Contains(err.Error(), "without --kafka-user") {
		t.Errorf("a password without a user: %v", err)
	}
	if _, err := parse([]string{"--kafka-password", "x"}, nil); err == nil {
		t.Error("--kafka-password was accepted: a password must not be settable on the command line")
	}
	k, err = parse(nil, nil)
	if c, cerr := k.Cluster(); err != nil || cerr != nil || c.Authenticated() {
		t.Errorf("no user: %v %v, authenticated %v; want PLAINTEXT", err, cerr, c.Authenticated())
	}
}
