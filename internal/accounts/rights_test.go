package accounts_test

import (
	"bytes"
	"context"
	"flag"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/accounts"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// This package has no golden files; it accepts -update so that the project-wide
// go test ./... -update runs.
var _ = flag.Bool("update", false, "no effect in this package")

// Who may read and write what, stated once more in the plainest terms: a change
// to KafkaRights that widens a role fails here.
func TestEachRoleHasOnlyTheRightsItsWorkNeeds(t *testing.T) {
	tp := stream.Topics{Raw: "raw", Clean: "clean", Consent: "consent", DeadLetter: "dead"}
	g := accounts.Groups{Enricher: "g-enricher", Sink: "g-sink", Replay: "g-replay"}
	rights := accounts.KafkaRights(tp, g)
	var got []string
	for _, r := range rights {
		got = append(got, r.String())
	}
	want := []string{
		"veil-collector may write topic raw",
		"veil-collector may write topic consent",
		"veil-collector may read topic consent",
		"veil-collector may write topic dead",
		"veil-simulator may write topic raw",
		"veil-enricher may read topic raw",
		"veil-enricher may read topic consent",
		"veil-enricher may write topic clean",
		"veil-enricher may write topic dead",
		"veil-enricher may read group g-enricher",
		"veil-sink may read topic clean",
		"veil-sink may write topic dead",
		"veil-sink may read group g-sink",
		"veil-replay may read topic dead",
		"veil-replay may write topic raw",
		"veil-replay may write topic clean",
		"veil-replay may read group g-replay",
	}
	if !slices.Equal(got, want) {
		t.Errorf("KafkaRights =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range rights {
		if r.Principal == accounts.KafkaAdmin {
			t.Errorf("the super user needs no ACL, got %s", r)
		}
		if r.Operation != kafka.ACLOperationTypeRead && r.Operation != kafka.ACLOperationTypeWrite {
			t.Errorf("%s: only Read and Write are granted", r)
		}
	}
	for _, a := range accounts.ACLs(rights) {
		if a.PermissionType != kafka.ACLPermissionTypeAllow || a.ResourcePatternType != kafka.PatternTypeLiteral || !strings.HasPrefix(a.Principal, "User:") {
			t.Errorf("ACL %+v: want a literal ALLOW for a User principal", a)
		}
	}
}

// scripts/secrets creates a password file for every Kafka account this package
// sets up, under the name Setup reads.
func TestScriptsSecretsKnowsEveryKafkaAccount(t *testing.T) {
	root := testenv.RepoRoot(t)
	out, err := exec.Command(filepath.Join(root, "scripts", "secrets"), "names").Output()
	if err != nil {
		t.Fatalf("scripts/secrets names: %v", err)
	}
	names := strings.Fields(string(out))
	for _, user := range append(accounts.KafkaRoles(), accounts.KafkaAdmin) {
		want := strings.TrimSuffix(filepath.Base(accounts.PasswordFile("", user)), ".password")
		if !slices.Contains(names, want) {
			t.Errorf("scripts/secrets does not create %s (it knows %v)", want, names)
		}
	}
}

func TestRightsCommandPrintsTheTable(t *testing.T) {
	fs := flag.NewFlagSet("rights", flag.ContinueOnError)
	run := accounts.RightsCommand(fs)
	if err := fs.Parse([]string{"--topic-raw", "r1", "--sink-group", "sinks"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"User:veil-simulator  Write      topic     r1", "User:veil-sink       Read       group     sinks"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the table lacks %q:\n%s", line, out.String())
		}
	}
}

// Sync grants the plan and revokes what else a role holds on the same names,
// leaving other principals' ACLs alone.
func TestSyncGrantsThePlanAndRevokesTheRest(t *testing.T) {
	admin := testenv.Kafka(t)
	testenv.Accounts(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := testenv.Unique("acl")
	tp := stream.Topics{Raw: id + ".raw", Clean: id + ".clean", Consent: id + ".consent", DeadLetter: id + ".deadletter"}
	g := accounts.Groups{Enricher: id + "-enricher", Sink: id + "-sink", Replay: id + "-replay"}
	plan := accounts.KafkaRights(tp, g)
	extra := []accounts.Right{
		{Principal: accounts.KafkaSink, Operation: kafka.ACLOperationTypeRead, Resource: kafka.ResourceTypeTopic, Name: tp.Raw},
		{Principal: "someone-else", Operation: kafka.ACLOperationTypeRead, Resource: kafka.ResourceTypeTopic, Name: tp.Raw},
	}
	t.Cleanup(func() { _ = accounts.Revoke(context.Background(), admin, append(slices.Clone(plan), extra...)) })
	if err := accounts.Grant(ctx, admin, extra); err != nil {
		t.Fatal(err)
	}
	revoked, err := accounts.Sync(ctx, admin, plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 1 || revoked[0] != extra[0] {
		t.Errorf("Sync revoked %v, want only %s", revoked, extra[0])
	}
	have := describe(t, admin, tp.Raw)
	for _, want := range []string{"User:veil-collector Write", "User:veil-simulator Write", "User:veil-enricher Read", "User:veil-replay Write", "User:someone-else Read"} {
		if !slices.Contains(have, want) {
			t.Errorf("ACLs on %s: %v lack %q", tp.Raw, have, want)
		}
	}
	if slices.Contains(have, "User:veil-sink Read") {
		t.Errorf("ACLs on %s: %v still let the sink read raw events", tp.Raw, have)
	}
	if again, err := accounts.Sync(ctx, admin, plan); err != nil || len(again) != 0 {
		t.Errorf("a second Sync revoked %v, %v; want nothing", again, err)
	}
}

func describe(t *testing.T, admin stream.Cluster, topic string) []string {
	t.Helper()
	return describeResource(t, admin, kafka.ResourceTypeTopic, topic)
}

// describeResource lists the literal ACLs on a topic or group as "principal operation".
func describeResource(t *testing.T, admin stream.Cluster, typ kafka.ResourceType, name string) []string {
	t.Helper()
	resp, err := admin.Client(10*time.Second).DescribeACLs(context.Background(), &kafka.DescribeACLsRequest{Filter: kafka.ACLFilter{
		ResourceTypeFilter: typ, ResourceNameFilter: name, ResourcePatternTypeFilter: kafka.PatternTypeLiteral,
		Operation: kafka.ACLOperationTypeAny, PermissionType: kafka.ACLPermissionTypeAny,
	}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			out = append(out, a.Principal+" "+a.Operation.String())
		}
	}
	return out
}

// scripts/kafka granted the roles their rights on the default topic and group
// names (it runs veilctl kafka setup on every start).
func TestTheRolesHoldTheirRightsOnTheDefaultNames(t *testing.T) {
	admin := testenv.Kafka(t)
	testenv.Accounts(t)
	have := map[string][]string{}
	for _, r := range accounts.KafkaRights(stream.DefaultTopics(), accounts.DefaultGroups()) {
		if _, ok := have[r.Name]; !ok {
			have[r.Name] = describeResource(t, admin, r.Resource, r.Name)
		}
		if want := accounts.Principal(r.Principal) + " " + r.Operation.String(); !slices.Contains(have[r.Name], want) {
			t.Errorf("%s: no ACL (ACLs on %s: %v); scripts/kafka start runs veilctl kafka setup", r, r.Name, have[r.Name])
		}
	}
}
