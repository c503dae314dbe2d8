package e2e

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/producer"
	"github.com/veiltelemetry/veil/internal/sink"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// docker-compose.yml cannot run here (no Docker engine), so this checks what can
// be checked without it: the file parses, has the services, and every service's
// command and environment are accepted by the real flag parsing of its binary.
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
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	for _, name := range []string{"kafka", "clickhouse", "enricher", "sink", "simulator"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	registers := map[string]func(*flag.FlagSet){
		"enricher run":      new(enricher.Config).Register,
		"sink run":          new(sink.Config).Register,
		"producer simulate": new(producer.SimulateConfig).Register,
	}
	checked := 0
	for name, svc := range compose.Services {
		if svc.Build == nil {
			continue
		}
		if len(svc.Command) < 2 {
			t.Errorf("service %s: command %v names no binary and subcommand", name, svc.Command)
			continue
		}
		register, ok := registers[svc.Command[0]+" "+svc.Command[1]]
		if !ok {
			t.Errorf("service %s: unknown command %q", name, strings.Join(svc.Command[:2], " "))
			continue
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(&strings.Builder{})
		register(fs)
		if err := config.Parse(fs, svc.Command[2:], config.MapLookup(svc.Environment)); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		for k := range svc.Environment {
			if fs.Lookup(strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "VEIL_")), "_", "-")) == nil {
				t.Errorf("service %s: environment %s matches no flag", name, k)
			}
		}
		checked++
	}
	if checked != 3 {
		t.Errorf("checked %d built services, want 3", checked)
	}
}
