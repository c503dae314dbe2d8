package e2e

import (
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/veiltelemetry/veil/internal/accounts"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/loadgen"
	"github.com/veiltelemetry/veil/internal/producer"
	"github.com/veiltelemetry/veil/internal/sink"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// pipelineStage is a command of the pipeline's binaries, as docker-compose.yml
// and scripts/demo run it.
type pipelineStage struct {
	kafkaUser string // the Kafka account it runs as; "" when it talks to no broker
	// config makes a fresh configuration: its flags, and its Validate.
	config func() (register func(*flag.FlagSet), validate func() error)
}

// pipelineStages are the stages both run, by command: the topics and accounts,
// the collector, the enricher, the sink, and the two sources of traffic.
var pipelineStages = map[string]pipelineStage{
	"veilctl kafka setup": {accounts.KafkaAdmin, func() (func(*flag.FlagSet), func() error) {
		c := new(accounts.SetupConfig)
		return c.Register, c.Validate
	}},
	"producer serve": {accounts.KafkaCollector, func() (func(*flag.FlagSet), func() error) {
		c := new(producer.ServeConfig)
		return c.Register, c.Collector.Validate
	}},
	"enricher run": {accounts.KafkaEnricher, func() (func(*flag.FlagSet), func() error) {
		c := new(enricher.Config)
		return c.Register, c.Validate
	}},
	"sink run": {accounts.KafkaSink, func() (func(*flag.FlagSet), func() error) {
		c := new(sink.Config)
		return c.Register, c.Validate
	}},
	"producer simulate": {accounts.KafkaSimulator, func() (func(*flag.FlagSet), func() error) {
		c := new(producer.SimulateConfig)
		return c.Register, c.Validate
	}},
	"producer loadgen": {"", func() (func(*flag.FlagSet), func() error) {
		c := new(loadgen.Config)
		return c.Register, c.Validate
	}},
}

// splitCommand splits a binary's argv into its command (the binary and its
// subcommand words, up to the first flag) and the arguments.
func splitCommand(argv []string) (string, []string) {
	n := 0
	for n < len(argv) && n < 3 && !strings.HasPrefix(argv[n], "-") {
		n++
	}
	return strings.Join(argv[:n], " "), argv[n:]
}

// flagName is the flag an environment variable sets: VEIL_KAFKA_USER is --kafka-user.
func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "VEIL_")), "_", "-")
}

// loadCompose loads a compose file as `docker compose config` does, with the
// compose specification's own loader: variables interpolated (from an empty
// environment, so that the result does not depend on the machine), the
// specification's JSON schema, normalization, and the consistency checks (every
// service, volume and network a service names exists).
func loadCompose(t *testing.T, file string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(testenv.RepoRoot(t)), cli.WithName("veil"),
		cli.WithInterpolation(true), cli.WithNormalization(true), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// docker compose config is valid, and the loader above would say otherwise: a
// copy of the file with one mistake each is refused.
func TestComposeFileIsValid(t *testing.T) {
	path := filepath.Join(testenv.RepoRoot(t), "docker-compose.yml")
	if _, err := loadCompose(t, path); err != nil {
		t.Fatalf("docker compose config would refuse docker-compose.yml: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"a misspelt key", "    command: [\"producer\", \"serve\"", "    comand: [\"producer\", \"serve\"", "comand"},
		{"a port that is no number", `"127.0.0.1:8080:8080"`, `"127.0.0.1:8080:http"`, "http"},
		{"a dependency on a service that does not exist", "collector: {condition: service_started}", "colector: {condition: service_started}", "colector"},
		{"a volume that is not declared", "keys:/var/lib/veil/keys", "key:/var/lib/veil/keys", "key"},
		{"a variable that must be set", "VEIL_BROKERS: kafka:9092", "VEIL_BROKERS: ${VEIL_KAFKA:?is not set}", "VEIL_KAFKA"},
		{"a condition a dependency cannot have", "collector: {condition: service_started}", "collector: {condition: service_ready}", "collector.condition"},
		{"a mapping where a list goes", "    ports:\n      - \"127.0.0.1:8080:8080\"", "    ports:\n      published: 8080", "ports"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(data), c.old) {
				t.Fatalf("docker-compose.yml no longer holds %q to break", c.old)
			}
			broken := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(broken, []byte(strings.Replace(string(data), c.old, c.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadCompose(t, broken)
			if err == nil {
				t.Fatalf("the loader accepts a compose file with %s", c.name)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %q: %v", c.want, err)
			}
		})
	}
}

// generatedSecrets runs scripts/secrets into a temporary directory, as the
// compose file's init service does into the secrets volume: the accounts'
// passwords and the collector's tokens and signing secret.
func generatedSecrets(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	for _, args := range [][]string{{"init"}, {"collector"}} {
		cmd := exec.Command(filepath.Join(testenv.RepoRoot(t), "scripts", "secrets"), args...)
		cmd.Env = append(os.Environ(), "VEIL_SECRETS="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/secrets %s: %v\n%s", args[0], err, out)
		}
	}
	return dir
}

// dockerImage is what the Dockerfile puts into the image the services run.
type dockerImage struct {
	copies map[string]string // destination in the final stage → source in the build stage
	runs   [][]string        // the build stage's RUN commands, as words
}

// readDockerfile reads the Dockerfile's build stage (its RUN commands) and its
// final stage (what it copies from the build stage).
func readDockerfile(t *testing.T) dockerImage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	img := dockerImage{copies: map[string]string{}}
	stage := 0
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		switch words[0] {
		case "FROM":
			stage++
		case "RUN":
			if stage == 1 {
				img.runs = append(img.runs, words[1:])
			}
		case "COPY":
			var from string
			var paths []string
			for _, w := range words[1:] {
				if v, ok := strings.CutPrefix(w, "--from="); ok {
					from = v
				} else if !strings.HasPrefix(w, "--") {
					paths = append(paths, w)
				}
			}
			if stage == 2 && from == "build" && len(paths) == 2 {
				img.copies[paths[1]] = paths[0]
			}
		}
	}
	if stage != 2 || len(img.copies) == 0 {
		t.Fatalf("the Dockerfile has %d stages and copies %v: want a build stage and a final one", stage, img.copies)
	}
	return img
}

// source is the build stage's path the image's file at path was copied from:
// the destination itself, or a directory above it.
func (img dockerImage) source(path string) (string, bool) {
	for dst, src := range img.copies {
		if dst == path {
			return src, true
		}
		if strings.HasSuffix(dst, "/") && strings.HasPrefix(path, dst) {
			return src + strings.TrimPrefix(path, dst), true
		}
	}
	return "", false
}

// builtBy reports whether a RUN of the build stage runs command (a binary,
// by its name or path, and its subcommand words) with flag set to value.
func (img dockerImage) builtBy(command []string, flag, value string) bool {
	for _, run := range img.runs {
		for i, w := range run {
			if path.Base(w) != command[0] || i+len(command) > len(run) || !slices.Equal(run[i+1:i+len(command)], command[1:]) {
				continue
			}
			args := run[i+len(command):]
			if j := slices.Index(args, flag); j >= 0 && j+1 < len(args) && args[j+1] == value {
				return true
			}
		}
	}
	return false
}

// docker-compose.yml cannot run here (no Docker engine), so this checks what can
// be checked without it, on the file as the compose loader reads it: every
// service that runs a binary of the image runs a pipeline stage; its command
// and environment are accepted by the stage's real flag parsing and its
// Validate, with the secrets the init service makes (scripts/secrets); each
// runs as the Kafka account of its role; every secret (passwords, the
// collector's tokens and signing secret) is a file of the secrets volume,
// mounted read-only, never a value in the command or the environment; every
// other file a command names is in a volume or in the image, and the image
// builds the enricher's IP database; the loadgen service's token is a relay's
// in the collector's tokens file; the collector is published on the host's
// loopback only; and the scripts the other images run exist.
func TestComposeFileParsesAndItsCommandsAreValid(t *testing.T) {
	root := testenv.RepoRoot(t)
	project, err := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"init", "kafka", "kafka-setup", "clickhouse", "collector", "enricher", "sink", "simulator", "loadgen"} {
		if _, ok := project.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	secrets := generatedSecrets(t)
	img := readDockerfile(t)
	for dst, src := range img.copies {
		if rel, ok := strings.CutPrefix(src, "/src/"); ok {
			if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
				t.Errorf("the image's %s is the repository's %s: %v", dst, rel, err)
			}
		}
	}
	stages := map[string]string{} // command → service
	var relayToken, collectorTokens string
	for name, svc := range project.Services {
		for _, arg := range svc.Entrypoint {
			if rel, ok := strings.CutPrefix(arg, "/veil/scripts/"); ok {
				if _, err := os.Stat(filepath.Join(root, "scripts", rel)); err != nil {
					t.Errorf("service %s runs %s: %v", name, arg, err)
				}
			}
		}
		if svc.Build == nil {
			continue
		}
		cmd, args := splitCommand(svc.Command)
		stage, ok := pipelineStages[cmd]
		if !ok {
			t.Errorf("service %s: %q is no pipeline stage", name, cmd)
			continue
		}
		if other, ok := stages[cmd]; ok {
			t.Errorf("services %s and %s both run %s", name, other, cmd)
		}
		stages[cmd] = name

		// The secrets volume's files are the generated ones here.
		local := func(v string) string {
			if rel, ok := strings.CutPrefix(v, "/secrets/"); ok {
				return filepath.Join(secrets, rel)
			}
			return v
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			if v == nil {
				t.Errorf("service %s: %s has no value", name, k)
				continue
			}
			env[k] = local(*v)
		}
		localArgs := make([]string, len(args))
		for i, a := range args {
			localArgs[i] = local(a)
		}
		if got := env["VEIL_KAFKA_USER"]; got != stage.kafkaUser {
			t.Errorf("service %s runs as Kafka user %q, want %q", name, got, stage.kafkaUser)
		}
		if stage.kafkaUser != "" && env["VEIL_KAFKA_PASSWORD_FILE"] != local(accounts.PasswordFile("/secrets", stage.kafkaUser)) {
			t.Errorf("service %s: VEIL_KAFKA_PASSWORD_FILE is not %s's password file", name, stage.kafkaUser)
		}
		if _, ok := env["VEIL_CLICKHOUSE_ADDR"]; ok && env["VEIL_CLICKHOUSE_USER"] != "veil_sink" {
			t.Errorf("service %s writes ClickHouse as %q, want veil_sink", name, env["VEIL_CLICKHOUSE_USER"])
		}

		register, validate := stage.config()
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		register(fs)
		secretEnv := map[string]bool{}
		fs.VisitAll(func(f *flag.Flag) {
			if s, ok := f.Value.(*config.Secret); ok {
				secretEnv[s.Env] = true
			}
		})
		for k := range env {
			switch {
			case secretEnv[k]:
				t.Errorf("service %s: the secret %s in its environment: secrets go in files of the secrets volume", name, k)
			case fs.Lookup(flagName(k)) == nil:
				t.Errorf("service %s: environment %s matches no flag", name, k)
			}
		}
		if err := config.Parse(fs, localArgs, config.MapLookup(env)); err != nil {
			t.Errorf("service %s: %v", name, err)
			continue
		}
		if err := validate(); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		if fs.NArg() > 0 {
			t.Errorf("service %s: arguments %v after the flags", name, fs.Args())
		}
		// Every file a flag names (a secret's, or any other absolute path) is in
		// a volume, read-only for secrets, or in the image.
		fs.Visit(func(f *flag.Flag) {
			path := f.Value.String()
			_, secret := f.Value.(*config.Secret)
			if rel, ok := strings.CutPrefix(path, secrets+string(filepath.Separator)); ok {
				path = "/secrets/" + rel
			}
			if !strings.HasPrefix(path, "/") {
				if secret {
					t.Errorf("service %s: --%s %s is not a file of the secrets volume", name, f.Name, path)
				}
				return
			}
			for _, v := range svc.Volumes {
				if path == v.Target || strings.HasPrefix(path, v.Target+"/") {
					if secret && (v.Type != types.VolumeTypeVolume || v.Source != "secrets" || !v.ReadOnly) {
						t.Errorf("service %s: --%s %s is not in the secrets volume mounted read-only (%s:%s, read-only %v)", name, f.Name, path, v.Source, v.Target, v.ReadOnly)
					}
					return
				}
			}
			if secret {
				t.Errorf("service %s: --%s %s is not in the secrets volume", name, f.Name, path)
				return
			}
			if _, ok := img.source(path); !ok {
				t.Errorf("service %s: --%s %s is neither in a volume nor in the image", name, f.Name, path)
			}
		})

		switch cmd {
		case "enricher run":
			geoip := fs.Lookup("geoip").Value.String()
			if src, ok := img.source(geoip); !ok || !img.builtBy([]string{"enricher", "geoip", "build"}, "--out", src) {
				t.Errorf("service %s: the image does not build --geoip %s with enricher geoip build", name, geoip)
			}
		case "producer loadgen":
			relayToken = readSecret(t, fs, "token-file")
		case "producer serve":
			collectorTokens = readSecret(t, fs, "tokens-file")
			for _, p := range svc.Ports {
				if p.HostIP != "127.0.0.1" {
					t.Errorf("service %s publishes %s:%s: want the host's loopback only", name, p.HostIP, p.Published)
				}
			}
			if len(svc.Ports) == 0 {
				t.Errorf("service %s publishes no port", name)
			}
		}
	}
	for cmd := range pipelineStages {
		if _, ok := stages[cmd]; !ok {
			t.Errorf("no service runs %s", cmd)
		}
	}
	if relayToken != "" && collectorTokens != "" {
		tokens, err := credential.ParseTokens(collectorTokens, "collector tokens")
		if err != nil {
			t.Fatal(err)
		}
		if role, _, ok := tokens.Lookup(relayToken); !ok || role != credential.Relay {
			t.Errorf("the loadgen service's token is not a relay's in the collector's tokens file (role %q, found %v)", role, ok)
		}
	}
}

// readSecret is the content of the file flag name of fs names.
func readSecret(t *testing.T, fs *flag.FlagSet, name string) string {
	t.Helper()
	f := fs.Lookup(name)
	if f == nil {
		t.Fatalf("no flag --%s", name)
	}
	s, ok := f.Value.(*config.Secret)
	if !ok {
		t.Fatalf("--%s is not a secret", name)
	}
	return s.Value()
}
