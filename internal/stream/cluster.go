package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Mechanism is the SASL mechanism every client uses when it has a user.
const Mechanism = "SCRAM-SHA-512"

// Cluster is how the pipeline reaches Kafka: the bootstrap brokers and, when
// User is set, the SCRAM-SHA-512 credentials every connection authenticates
// with (a SASL_PLAINTEXT listener). Every reader, writer, dialer and admin
// client of the binaries is built from one, so none of them can forget the
// credentials. The zero User is PLAINTEXT without authentication, for brokers
// that have no accounts.
//
// Build one with NewCluster (or Kafka.Cluster); a Cluster{Brokers: b} literal
// is a PLAINTEXT cluster. Copies share one connection pool.
type Cluster struct {
	Brokers []string
	User    string // the principal User:<User>; "" without authentication

	mech      sasl.Mechanism
	transport *kafka.Transport // nil: kafka-go's shared default transport
}

// NewCluster returns the cluster at brokers, authenticating as user with
// password when user is set.
func NewCluster(brokers []string, user, password string) (Cluster, error) {
	c := Cluster{Brokers: brokers, User: user}
	if user == "" {
		if password != "" {
			return Cluster{}, fmt.Errorf("stream: a Kafka password without a user")
		}
		return c, nil
	}
	if password == "" {
		return Cluster{}, fmt.Errorf("stream: Kafka user %s has no password", user)
	}
	m, err := scram.Mechanism(scram.SHA512, user, password)
	if err != nil {
		return Cluster{}, fmt.Errorf("stream: SCRAM credentials of %s: %w", user, err)
	}
	c.mech = m
	c.transport = &kafka.Transport{SASL: m}
	return c, nil
}

// Authenticated reports whether connections authenticate (SASL) at all.
func (c Cluster) Authenticated() bool { return c.mech != nil }

// String names the brokers and the user, never the password.
func (c Cluster) String() string {
	if c.User == "" {
		return fmt.Sprintf("%v (no authentication)", c.Brokers)
	}
	return fmt.Sprintf("%v as %s", c.Brokers, c.User)
}

// RoundTripper is what a kafka.Client or kafka.Writer sends its requests with:
// nil (kafka-go's default transport) without authentication.
func (c Cluster) RoundTripper() kafka.RoundTripper {
	if c.transport == nil {
		return nil
	}
	return c.transport
}

// Client returns an admin client of the cluster.
func (c Cluster) Client(timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: c.RoundTripper()}
}

// Dialer returns the dialer readers and consumer groups connect with: kafka-go's
// default settings, plus the credentials. It is nil without authentication,
// which kafka-go takes as its default dialer.
func (c Cluster) Dialer() *kafka.Dialer {
	if c.mech == nil {
		return nil
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, SASLMechanism: c.mech} // kafka-go's default dialer, plus SASL
}

// DialLeader connects to the leader of a topic's partition.
func (c Cluster) DialLeader(ctx context.Context, topic string, partition int) (*kafka.Conn, error) {
	d := c.Dialer()
	if d == nil {
		d = kafka.DefaultDialer
	}
	if len(c.Brokers) == 0 {
		return nil, fmt.Errorf("stream: no brokers")
	}
	return d.DialLeader(ctx, "tcp", c.Brokers[0], topic, partition)
}
