package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Secret is a password a binary takes from a file or from the environment,
// never from its command line, where every local user could read it in the
// process list. It is registered as a flag naming the file (--x-password-file,
// which config.Parse also reads from VEIL_X_PASSWORD_FILE like every flag); the
// password itself may instead be in the variable Env (VEIL_X_PASSWORD), which
// Parse reads through its injected Lookup. There is deliberately no flag that
// takes the password.
//
// Parse fills the secret after the flags: from the file (its content without a
// trailing line break) or from Env. Both set is an error, and so is an empty
// file. Neither set leaves the secret empty: no password.
type Secret struct {
	Env   string // the variable that may hold the secret itself, e.g. VEIL_KAFKA_PASSWORD
	flag  string // the file flag's name, for errors
	file  string
	value string
}

// SecretVar registers s as the flag name (the path of a file holding the
// secret) on fs; env is the variable that may hold the secret instead.
func SecretVar(fs *flag.FlagSet, s *Secret, name, env, usage string) {
	s.Env, s.flag = env, name
	fs.Var(s, name, usage+" (or the secret itself in "+env+"; never on the command line)")
}

// String is the file's path: a secret is never printed.
func (s *Secret) String() string {
	if s == nil {
		return ""
	}
	return s.file
}

// Set takes the path of the file holding the secret.
func (s *Secret) Set(path string) error {
	s.file = path
	return nil
}

// Value is the secret, once Parse (or Resolve) filled it; "" when none was given.
func (s *Secret) Value() string { return s.value }

// File is the path the secret was read from, "" when it came from the
// environment or was not given.
func (s *Secret) File() string { return s.file }

// Resolve fills the secret from its file or from its variable in env. Parse
// calls it for every Secret flag; tests filling a config by hand may call it.
func (s *Secret) Resolve(env Lookup) error {
	v, inEnv := env(s.Env)
	switch {
	case inEnv && s.file != "":
		return fmt.Errorf("--%s and %s are both set: set one", s.flag, s.Env)
	case inEnv:
		if v == "" {
			return fmt.Errorf("%s is set but empty", s.Env)
		}
		s.value = v
	case s.file != "":
		b, err := os.ReadFile(s.file)
		if err != nil {
			return fmt.Errorf("--%s: %w", s.flag, err)
		}
		s.value = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s.value == "" {
			return fmt.Errorf("--%s: %s is empty", s.flag, s.file)
		}
	default:
		s.value = ""
	}
	return nil
}

// resolveSecrets fills every Secret flag of fs.
func resolveSecrets(fs *flag.FlagSet, env Lookup) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if s, ok := f.Value.(*Secret); ok {
			errs = append(errs, s.Resolve(env))
		}
	})
	return errors.Join(errs...)
}
