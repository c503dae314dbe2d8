// Package config parses a binary's command line and environment into its config
// struct. Every flag --some-name can also be set as VEIL_SOME_NAME; the command line
// wins. The environment is read through a lookup function so tests pass a map.
// Passwords are Secrets: read from a file or the environment, never from argv.
package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Lookup reads one environment variable; os.LookupEnv in production.
type Lookup func(key string) (string, bool)

// MapLookup serves variables from a map, for tests.
func MapLookup(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// EnvName is the environment variable of a flag: brokers → VEIL_BROKERS.
func EnvName(flagName string) string {
	return "VEIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args, then sets every flag not given on the command line from its
// environment variable, then fills the secrets (see Secret) from their files or
// variables. A bad value names the flag or the variable.
func Parse(fs *flag.FlagSet, args []string, env Lookup) error {
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		if v, ok := env(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return resolveSecrets(fs, env)
}

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage of %s (every flag can also be set as VEIL_<FLAG>, e.g. --brokers as VEIL_BROKERS):\n", fs.Name())
	printDefaults(out, fs)
}

func printDefaults(out io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  --%s %s\t[%s]\n    \t%s", f.Name, name, EnvName(f.Name), strings.ReplaceAll(help, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(out, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(out)
	})
}

// OSLookup is os.LookupEnv.
var OSLookup Lookup = os.LookupEnv

// List is a comma-separated flag value.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set replaces the list.
func (l *List) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
