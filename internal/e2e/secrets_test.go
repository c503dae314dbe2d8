package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// No secret is ever a flag's value, in any binary: a command line is visible to
// every local user in the process list, and in /debug/pprof/cmdline with
// --pprof-addr. Every flag of every subcommand whose name says token, secret or
// password names a file (ends in -file); the secret itself comes from that file
// or from the environment. The subcommands are read from each binary's own
// usage, so a new one is covered without being listed here.
func TestNoFlagOfAnyBinaryTakesASecret(t *testing.T) {
	command := regexp.MustCompile(`^  (\S+(?: \S+)?)\s{2,}\S`)
	flagLine := regexp.MustCompile(`^\s+--([a-z0-9-]+)`)
	checked, secretFlags := 0, 0
	for _, bin := range []string{"producer", "enricher", "sink", "veilctl"} {
		out, _ := exec.Command(binary(t, bin), "help").CombinedOutput()
		var subs []string
		for _, l := range strings.Split(string(out), "\n") {
			if m := command.FindStringSubmatch(l); m != nil {
				subs = append(subs, m[1])
			}
		}
		if len(subs) == 0 {
			t.Fatalf("%s help lists no commands:\n%s", bin, out)
		}
		for _, sub := range subs {
			args := append(strings.Fields(sub), "-h")
			usage, _ := exec.Command(binary(t, bin), args...).CombinedOutput()
			flags := 0
			for _, l := range strings.Split(string(usage), "\n") {
				m := flagLine.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				flags++
				name := m[1]
				if !strings.Contains(name, "token") && !strings.Contains(name, "secret") && !strings.Contains(name, "password") {
					continue
				}
				secretFlags++
				if !strings.HasSuffix(name, "-file") && name != "secrets" {
					t.Errorf("%s %s --%s takes a secret on the command line; make it a file (config.Secret)", bin, sub, name)
				}
			}
			if flags == 0 {
				t.Errorf("%s %s -h lists no flags:\n%s", bin, sub, usage)
			}
			checked++
		}
	}
	if checked < 15 || secretFlags == 0 {
		t.Errorf("checked %d subcommands and %d secret flags: the test no longer looks at what it should", checked, secretFlags)
	}
}
