package producer

import (
	"flag"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/loadgen"
)

// No secret is ever a flag's value: a command line is visible to every local
// user in the process list, and in /debug/pprof/cmdline with --pprof-addr.
// Every flag of the producer's commands that names a token, a secret or a
// password takes the path of a file (config.Secret), and the secret itself can
// come only from that file or its environment variable.
func TestNoFlagTakesASecret(t *testing.T) {
	commands := map[string]func(*flag.FlagSet){
		"serve":            func(fs *flag.FlagSet) { var c ServeConfig; c.Register(fs) },
		"loadgen":          func(fs *flag.FlagSet) { var c loadgen.Config; c.Register(fs) },
		"credential issue": func(fs *flag.FlagSet) { credential.IssueCommand(fs) },
	}
	for name, register := range commands {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		register(fs)
		secrets := 0
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(f.Name, "token") && !strings.Contains(f.Name, "secret") && !strings.Contains(f.Name, "password") {
				return
			}
			if _, ok := f.Value.(*config.Secret); !ok || !strings.HasSuffix(f.Name, "-file") {
				t.Errorf("%s --%s takes a secret on the command line; make it a config.Secret naming a file", name, f.Name)
			}
			secrets++
		})
		if secrets == 0 {
			t.Errorf("%s has no secret flag: the test no longer looks at what it should", name)
		}
	}
}
