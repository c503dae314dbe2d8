package e2e

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/veiltelemetry/veil/internal/accounts"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/producer"
	"github.com/veiltelemetry/veil/internal/sink"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// docker-compose.yml cannot run here (no Docker engine), so this checks what can
// be checked without it: the file parses, has the services, every service's
// command and environment are accepted by the real flag parsing of its binary,
// each binary runs as the account of its role with its password in a file of
// the secrets volume (never in the command or the environment), and the
// scripts the images run exist.
func TestComposeFileParsesAndItsCommandsAreValid(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Command     []string          `yaml:"command"`
			Entrypoint  []string          `yaml:"entrypoint"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	for _, name := range []string{"init", "kafka", "kafka-setup", "clickhouse", "enricher", "sink", "simulator"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	registers := map[string]func(*flag.FlagSet){
		"enricher run":        new(enricher.Config).Register,
		"sink run":            new(sink.Config).Register,
		"producer simulate":   new(producer.SimulateConfig).Register,
		"veilctl kafka setup": new(accounts.SetupConfig).Register,
	}
	kafkaUser := map[string]string{
		"enricher run":        accounts.KafkaEnricher,
		"sink run":            accounts.KafkaSink,
		"producer simulate":   accounts.KafkaSimulator,
		"veilctl kafka setup": accounts.KafkaAdmin,
	}
	// The parsing below reads the password files: stand-ins for the volume's.
	standIn := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(standIn, []byte("stand-in"), 0o600); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, svc := range compose.Services {
		for _, arg := range svc.Entrypoint {
			if rel, ok := strings.CutPrefix(arg, "/veil/scripts/"); ok {
				if _, err := os.Stat(filepath.Join(testenv.RepoRoot(t), "scripts", rel)); err != nil {
					t.Errorf("service %s runs %s: %v", name, arg, err)
				}
			}
		}
		if svc.Build == nil {
			continue
		}
		for _, arg := range svc.Command {
			if strings.Contains(arg, "password") && !strings.HasSuffix(arg, "-file") {
				t.Errorf("service %s: %q in its command: passwords go in files", name, arg)
			}
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			switch {
			case strings.HasSuffix(k, "_PASSWORD_FILE"):
				if !strings.HasPrefix(v, "/secrets/") || !slices.Contains(svc.Volumes, "secrets:/secrets:ro") {
					t.Errorf("service %s: %s=%s is not in the secrets volume, mounted read-only", name, k, v)
				}
				v = standIn
			case strings.Contains(k, "PASSWORD"):
				t.Errorf("service %s: %s in its environment: passwords go in files", name, k)
			}
			env[k] = v
		}
		if len(svc.Command) >= 2 {
			want := kafkaUser[svc.Command[0]+" "+svc.Command[1]]
			if svc.Command[0] == "veilctl" && len(svc.Command) >= 3 {
				want = kafkaUser["veilctl "+svc.Command[1]+" "+svc.Command[2]]
			}
			if got := svc.Environment["VEIL_KAFKA_USER"]; got != want || svc.Environment["VEIL_KAFKA_PASSWORD_FILE"] != "/secrets/kafka-"+want+".password" {
				t.Errorf("service %s runs as Kafka user %q with %s, want %s with its password file", name, got, svc.Environment["VEIL_KAFKA_PASSWORD_FILE"], want)
			}
		}
		if svc.Environment["VEIL_CLICKHOUSE_ADDR"] != "" && svc.Environment["VEIL_CLICKHOUSE_USER"] != "veil_sink" {
			t.Errorf("service %s writes ClickHouse as %q, want veil_sink", name, svc.Environment["VEIL_CLICKHOUSE_USER"])
		}
		if len(svc.Command) < 2 {
			t.Errorf("service %s: command %v names no binary and subcommand", name, svc.Command)
			continue
		}
		cmd, args := svc.Command[0]+" "+svc.Command[1], svc.Command[2:]
		if svc.Command[0] == "veilctl" && len(svc.Command) >= 3 {
			cmd, args = cmd+" "+svc.Command[2], svc.Command[3:]
		}
		register, ok := registers[cmd]
		if !ok {
			t.Errorf("service %s: unknown command %q", name, cmd)
			continue
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(&strings.Builder{})
		register(fs)
		if err := config.Parse(fs, args, config.MapLookup(env)); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		for k := range svc.Environment {
			if fs.Lookup(strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "VEIL_")), "_", "-")) == nil {
				t.Errorf("service %s: environment %s matches no flag", name, k)
			}
		}
		checked++
	}
	if checked != 4 {
		t.Errorf("checked %d built services, want 4", checked)
	}
}
