package e2e

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// invocation is one run of a pipeline binary: its command, its arguments, and
// the environment it gets.
type invocation struct {
	cmd  string
	args []string
	env  map[string]string
}

// demoSteps are the binaries scripts/demo runs that are no pipeline stage, and
// where docker-compose.yml has their work done instead.
var demoSteps = map[string]string{
	"enricher geoip build": "the Dockerfile builds the database into the image",
	"enricher audit":       "a report printed for the reader",
	"producer privacy":     "a report printed for the reader; the collector serves it as GET /privacy",
}

// readDemo parses scripts/demo with a shell parser and returns every run of a
// binary it built, with its environment: variables given to it (env NAME=VALUE,
// NAME=VALUE before the command, or the script's `as USER`, which runs a command
// as a Kafka account), and those the script exports (global). Variables the
// script assigns at its top level are expanded; what it cannot know (a command
// substitution, the environment) stays as written.
func readDemo(t *testing.T) (runs []invocation, global map[string]string) {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(t), "scripts", "demo")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file, err := syntax.NewParser().Parse(f, path)
	if err != nil {
		t.Fatalf("scripts/demo does not parse: %v", err)
	}
	vars, global := map[string]string{}, map[string]string{}
	for _, stmt := range file.Stmts {
		switch c := stmt.Cmd.(type) {
		case *syntax.CallExpr:
			if len(c.Args) == 0 {
				for _, a := range c.Assigns {
					vars[a.Name.Value] = shellWord(a.Value, vars)
				}
			}
		case *syntax.DeclClause:
			if c.Variant.Value == "export" {
				for _, a := range c.Args {
					vars[a.Name.Value] = shellWord(a.Value, vars)
					global[a.Name.Value] = vars[a.Name.Value]
				}
			}
		}
	}
	bin := vars["bin"]
	if bin == "" {
		t.Fatal("scripts/demo assigns no bin, the directory of the binaries it builds")
	}
	// `as USER CMD...` runs CMD with VEIL_KAFKA_USER=USER and that account's
	// password file: check the helper still does.
	asSetsAccount := false
	syntax.Walk(file, func(n syntax.Node) bool {
		fn, ok := n.(*syntax.FuncDecl)
		if !ok || fn.Name.Value != "as" {
			return true
		}
		syntax.Walk(fn.Body, func(n syntax.Node) bool {
			if c, ok := n.(*syntax.CallExpr); ok {
				var names []string
				for _, a := range c.Assigns {
					names = append(names, a.Name.Value)
				}
				asSetsAccount = asSetsAccount || slices.Contains(names, "VEIL_KAFKA_USER") && slices.Contains(names, "VEIL_KAFKA_PASSWORD_FILE")
			}
			return true
		})
		return false
	})
	syntax.Walk(file, func(n syntax.Node) bool {
		c, ok := n.(*syntax.CallExpr)
		if !ok || len(c.Args) == 0 {
			return true
		}
		words := make([]string, len(c.Args))
		for i, w := range c.Args {
			words[i] = shellWord(w, vars)
		}
		env := map[string]string{}
		for _, a := range c.Assigns {
			env[a.Name.Value] = shellWord(a.Value, vars)
		}
		switch {
		case words[0] == "env":
			words = words[1:]
			for len(words) > 0 && strings.Contains(words[0], "=") {
				k, v, _ := strings.Cut(words[0], "=")
				env[k] = v
				words = words[1:]
			}
		case words[0] == "as" && len(words) > 1:
			if !asSetsAccount {
				t.Fatal("scripts/demo's as helper no longer sets VEIL_KAFKA_USER and VEIL_KAFKA_PASSWORD_FILE")
			}
			env["VEIL_KAFKA_USER"] = words[1]
			env["VEIL_KAFKA_PASSWORD_FILE"] = "$(scripts/secrets path kafka-" + words[1] + ")"
			words = words[2:]
		}
		if len(words) == 0 || filepath.Dir(words[0]) != bin {
			return true
		}
		cmd, args := splitCommand(append([]string{filepath.Base(words[0])}, words[1:]...))
		runs = append(runs, invocation{cmd, args, env})
		return true
	})
	return runs, global
}

// shellWord is the text of a shell word once its quotes are removed and the
// variables in vars (and the defaults of ${NAME:-DEFAULT}) expanded; anything
// else is kept as the script writes it.
func shellWord(w *syntax.Word, vars map[string]string) string {
	if w == nil {
		return ""
	}
	var b strings.Builder
	var part func(p syntax.WordPart)
	part = func(p syntax.WordPart) {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				part(q)
			}
		case *syntax.ParamExp:
			if p.Param == nil {
				syntax.NewPrinter().Print(&b, p)
				return
			}
			if v, ok := vars[p.Param.Value]; ok && (p.Exp == nil || v != "") {
				b.WriteString(v)
				return
			}
			if p.Exp != nil && (p.Exp.Op == syntax.DefaultUnsetOrNull || p.Exp.Op == syntax.DefaultUnset) {
				b.WriteString(shellWord(p.Exp.Word, vars))
				return
			}
			syntax.NewPrinter().Print(&b, p)
		default:
			syntax.NewPrinter().Print(&b, p)
		}
	}
	for _, p := range w.Parts {
		part(p)
	}
	return b.String()
}

// stageSettings are the flags a stage runs with, from its arguments and its
// environment (env, which must name flags, then global, which the stage takes
// where it has the flag), the command line winning as in config.Parse; and
// the defaults of its flags.
func stageSettings(t *testing.T, where string, run invocation, global map[string]string) (given, defaults map[string]string, secret map[string]bool) {
	t.Helper()
	register, _ := pipelineStages[run.cmd].config()
	fs := flag.NewFlagSet(where, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	register(fs)
	if err := fs.Parse(run.args); err != nil {
		t.Errorf("%s: %s: %v", where, run.cmd, err)
	}
	if fs.NArg() > 0 {
		t.Errorf("%s: %s: arguments %v after the flags", where, run.cmd, fs.Args())
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	set := func(env map[string]string, strict bool) {
		for k, v := range env {
			name := flagName(k)
			switch {
			case fs.Lookup(name) == nil:
				if strict {
					t.Errorf("%s: %s is given %s, which matches no flag", where, run.cmd, k)
				}
			case !onCommandLine[name]:
				if err := fs.Set(name, v); err != nil {
					t.Errorf("%s: %s: %s=%q: %v", where, run.cmd, k, v, err)
				}
			}
		}
	}
	set(global, false)
	set(run.env, true)
	given, defaults, secret = map[string]string{}, map[string]string{}, map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	fs.VisitAll(func(f *flag.Flag) {
		defaults[f.Name] = f.DefValue
		_, secret[f.Name] = f.Value.(*config.Secret)
	})
	return given, defaults, secret
}

// A deployment's own flags: where the services are, and where its files are.
// Both runs must give them, each its own value.
func deploymentFlag(name string, secret bool) bool {
	switch name {
	case "brokers", "listen", "url", "key-dir", "dedup-dir", "geoip", "service-catalog", "secrets":
		return true
	}
	return secret || strings.HasSuffix(name, "-file") || strings.HasSuffix(name, "-addr")
}

// essentialFlags are given by both runs of a stage, whatever else changes.
var essentialFlags = map[string][]string{
	"veilctl kafka setup": {"kafka-user", "kafka-password-file", "create-topics", "secrets"},
	"producer serve":      {"kafka-user", "kafka-password-file", "tokens-file", "credential-secrets-file", "geoip"},
	"enricher run":        {"kafka-user", "kafka-password-file", "geoip", "service-catalog", "key-dir"},
	"sink run":            {"kafka-user", "kafka-password-file", "clickhouse-user", "clickhouse-password-file", "dedup-dir"},
	"producer simulate":   {"kafka-user", "kafka-password-file", "count"},
	"producer loadgen":    {"url", "token-file", "requests"},
}

// The README's Docker section says `docker compose up` runs the pipeline
// scripts/demo runs. Both are read here, scripts/demo with a shell parser and
// docker-compose.yml with the compose loader: they run the same stages (the
// topics and accounts, the collector, the enricher, the sink, the simulator,
// events posted through the collector), each exactly once, and each stage gets
// the same flags in both, from its command line or its environment: the same
// values, but for the deployment's addresses and files, which both must give.
// Among them the essential ones: the collector's tokens and signing secret, the
// enricher's IP database and service catalog, the sink's ClickHouse account,
// the simulator's count. The README's Docker section names every stage, the
// collector's address and where its relay token is.
func TestDemoAndComposeRunTheSamePipeline(t *testing.T) {
	root := testenv.RepoRoot(t)
	project, err := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	compose := map[string]invocation{}
	for name, svc := range project.Services {
		if svc.Build == nil {
			continue
		}
		cmd, args := splitCommand(svc.Command)
		env := map[string]string{}
		for k, v := range svc.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		if _, ok := pipelineStages[cmd]; !ok {
			t.Errorf("docker-compose.yml: service %s runs %q, no pipeline stage", name, cmd)
			continue
		}
		compose[cmd] = invocation{cmd, args, env}
	}

	runs, global := readDemo(t)
	demo := map[string]invocation{}
	for _, run := range runs {
		if _, ok := demoSteps[run.cmd]; ok {
			continue
		}
		if _, ok := pipelineStages[run.cmd]; !ok {
			t.Errorf("scripts/demo runs %q, neither a pipeline stage nor a known step: add it to docker-compose.yml and pipelineStages, or to demoSteps", run.cmd)
			continue
		}
		if _, ok := demo[run.cmd]; ok {
			t.Errorf("scripts/demo runs %s twice", run.cmd)
		}
		demo[run.cmd] = run
	}

	for cmd := range pipelineStages {
		d, inDemo := demo[cmd]
		c, inCompose := compose[cmd]
		if !inDemo || !inCompose {
			t.Errorf("%s: run by scripts/demo %v, by docker-compose.yml %v: want both", cmd, inDemo, inCompose)
			continue
		}
		dGiven, defaults, secret := stageSettings(t, "scripts/demo", d, global)
		cGiven, _, _ := stageSettings(t, "docker-compose.yml", c, nil)
		for _, name := range essentialFlags[cmd] {
			if _, ok := dGiven[name]; !ok {
				t.Errorf("%s: scripts/demo gives no --%s", cmd, name)
			}
			if _, ok := cGiven[name]; !ok {
				t.Errorf("%s: docker-compose.yml gives no --%s", cmd, name)
			}
		}
		names := map[string]bool{}
		for name := range dGiven {
			names[name] = true
		}
		for name := range cGiven {
			names[name] = true
		}
		for name := range names {
			dv, inD := dGiven[name]
			cv, inC := cGiven[name]
			if deploymentFlag(name, secret[name]) {
				if inD != inC {
					t.Errorf("%s: --%s is given by scripts/demo %v (%q), by docker-compose.yml %v (%q): the deployment's, want it in both", cmd, name, inD, dv, inC, cv)
				}
				continue
			}
			// A flag given its default is the same as one not given.
			if !inD {
				dv = defaults[name]
			}
			if !inC {
				cv = defaults[name]
			}
			if dv != cv {
				t.Errorf("%s: --%s is %q in scripts/demo, %q in docker-compose.yml", cmd, name, dv, cv)
			}
		}
	}

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Docker\n")
	if !ok {
		t.Fatal("README.md has no Docker section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var want []string
	for cmd := range pipelineStages {
		want = append(want, "`"+cmd+"`")
	}
	for _, svc := range project.Services {
		if len(svc.Command) > 1 && svc.Command[0]+" "+svc.Command[1] == "producer serve" {
			for _, p := range svc.Ports {
				want = append(want, p.HostIP+":"+p.Published)
			}
		}
	}
	if c, ok := compose["producer loadgen"]; ok {
		if i := slices.Index(c.args, "--token-file"); i >= 0 && i+1 < len(c.args) {
			want = append(want, c.args[i+1])
		}
	}
	for _, w := range want {
		if !strings.Contains(section, w) {
			t.Errorf("README.md's Docker section does not name %s", w)
		}
	}
}
