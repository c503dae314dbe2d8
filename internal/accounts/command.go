package accounts

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// SetupConfig is the configuration of `veilctl kafka setup`, which an
// administrator runs as the Kafka super user.
type SetupConfig struct {
	Kafka   stream.Kafka // --brokers, --kafka-user (the super user), --kafka-password-file, --topic-*, --create-topics, --partitions
	Secrets string       // --secrets: the directory of the roles' password files, kafka-<user>.password; default .state/secrets
	Groups  Groups       // --enricher-group, --sink-group, --replay-group
}

// Register adds the flags to fs with their defaults.
func (c *SetupConfig) Register(fs *flag.FlagSet) {
	c.Kafka.Register(fs)
	c.registerNames(fs)
	fs.StringVar(&c.Secrets, "secrets", ".state/secrets", "directory of the roles' password files, kafka-<user>.password (scripts/secrets creates them)")
}

func (c *SetupConfig) registerNames(fs *flag.FlagSet) {
	d := DefaultGroups()
	fs.StringVar(&c.Groups.Enricher, "enricher-group", d.Enricher, "consumer group of enricher run")
	fs.StringVar(&c.Groups.Sink, "sink-group", d.Sink, "consumer group of sink run")
	fs.StringVar(&c.Groups.Replay, "replay-group", d.Replay, "consumer group of enricher replay-deadletter")
}

// Validate names the first bad field.
func (c *SetupConfig) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	switch {
	case c.Secrets == "":
		return fmt.Errorf("--secrets must not be empty")
	case c.Groups.Enricher == "" || c.Groups.Sink == "" || c.Groups.Replay == "":
		return fmt.Errorf("--enricher-group, --sink-group and --replay-group must not be empty")
	}
	return nil
}

// PasswordFile is where the password of a Kafka user is in the secrets directory.
func PasswordFile(secrets, user string) string {
	return filepath.Join(secrets, "kafka-"+user+".password")
}

// Setup creates the topics (with --create-topics), sets every role's password
// from its file, makes the roles' ACLs on the topics and groups exactly their
// rights, and checks that every role can log in. It is idempotent; run it
// again after changing a password file, a topic name or a group.
func Setup(ctx context.Context, cfg SetupConfig, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	admin, err := cfg.Kafka.Cluster()
	if err != nil {
		return err
	}
	if !admin.Authenticated() {
		return errors.New("setup: --kafka-user: the Kafka super user is needed (e.g. veil-admin)")
	}
	if err := stream.Ping(admin)(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return err
	}
	if cfg.Kafka.CreateTopics {
		fmt.Fprintf(out, "topics: %s, %s, %s, %s exist\n", cfg.Kafka.Topics.Raw, cfg.Kafka.Topics.Clean, cfg.Kafka.Topics.Consent, cfg.Kafka.Topics.DeadLetter)
	}
	passwords, err := readPasswords(cfg.Secrets, KafkaRoles())
	if err != nil {
		return err
	}
	if err := SetPasswords(ctx, admin, passwords); err != nil {
		return err
	}
	rights := KafkaRights(cfg.Kafka.Topics, cfg.Groups)
	revoked, err := Sync(ctx, admin, rights)
	for _, r := range revoked {
		fmt.Fprintf(out, "revoked: %s\n", r)
	}
	if err != nil {
		return err
	}
	if err := waitGroupCoordinator(ctx, admin); err != nil {
		return err
	}
	for _, user := range KafkaRoles() {
		if err := CheckLogin(ctx, admin.Brokers, user, passwords[user]); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: password set, logs in; ACLs: %d\n", user, len(Of(rights, user)))
	}
	return nil
}

// readPasswords reads the password files of users in the secrets directory.
func readPasswords(secrets string, users []string) (map[string]string, error) {
	passwords := map[string]string{}
	for _, user := range users {
		b, err := os.ReadFile(PasswordFile(secrets, user))
		if err != nil {
			return nil, fmt.Errorf("accounts: the password of %s: %w (scripts/secrets init creates the files)", user, err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			return nil, fmt.Errorf("accounts: the password file of %s is empty", user)
		}
		passwords[user] = pw
	}
	return passwords, nil
}

// PasswordsCommand is `veilctl kafka passwords`: it sets the passwords of the
// roles, and with --admin of the super user too, from their files. It is how
// a broker that ran without accounts gets them (scripts/kafka runs it once,
// on a start without authentication or authorizer, before the first start
// with both); with accounts, setup does it.
func PasswordsCommand(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
	var k stream.Kafka
	k.Register(fs)
	secrets := fs.String("secrets", ".state/secrets", "directory of the password files, kafka-<user>.password")
	admin := fs.Bool("admin", false, "also set the super user's ("+KafkaAdmin+") password")
	return func(ctx context.Context, _ *slog.Logger, out io.Writer) error {
		if err := k.Validate(); err != nil {
			return err
		}
		c, err := k.Cluster()
		if err != nil {
			return err
		}
		users := KafkaRoles()
		if *admin {
			users = append(users, KafkaAdmin)
		}
		passwords, err := readPasswords(*secrets, users)
		if err != nil {
			return err
		}
		if err := SetPasswords(ctx, c, passwords); err != nil {
			return err
		}
		fmt.Fprintf(out, "passwords set: %s\n", strings.Join(users, ", "))
		return nil
	}
}

// waitGroupCoordinator returns once the broker coordinates consumer groups. On
// a new broker the first group request creates the offsets topic, which takes
// seconds; asking here spares the first consumer that wait.
func waitGroupCoordinator(ctx context.Context, admin stream.Cluster) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	client := admin.Client(10 * time.Second)
	for {
		resp, err := client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: "veil-setup", KeyType: kafka.CoordinatorKeyTypeConsumer})
		if err == nil {
			err = resp.Error
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("setup: no group coordinator: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// PrintRights writes the rights of every role as a table, for people.
func PrintRights(w io.Writer, rights []Right) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tOPERATION\tRESOURCE\tNAME")
	for _, r := range rights {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", Principal(r.Principal), r.Operation, r.kind(), r.Name)
	}
	return tw.Flush()
}

// RightsCommand is `veilctl kafka rights`: the rights the setup grants, for
// the topic and group names given, without connecting anywhere.
func RightsCommand(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
	var cfg SetupConfig
	topics := stream.DefaultTopics()
	fs.StringVar(&topics.Raw, "topic-raw", topics.Raw, "topic of raw events")
	fs.StringVar(&topics.Clean, "topic-clean", topics.Clean, "topic of clean events")
	fs.StringVar(&topics.Consent, "topic-consent", topics.Consent, "compacted topic of per-installation opt-outs")
	fs.StringVar(&topics.DeadLetter, "topic-deadletter", topics.DeadLetter, "topic of records that could not be processed")
	cfg.registerNames(fs)
	return func(_ context.Context, _ *slog.Logger, out io.Writer) error {
		return PrintRights(out, KafkaRights(topics, cfg.Groups))
	}
}

// SetupCommand is `veilctl kafka setup`.
func SetupCommand(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
	var cfg SetupConfig
	cfg.Register(fs)
	return func(ctx context.Context, _ *slog.Logger, out io.Writer) error { return Setup(ctx, cfg, out) }
}
