package accounts

import (
	"fmt"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// The Kafka principals (SCRAM-SHA-512 users), one per role. Each binary runs as
// the role of what it does, with its own password.
const (
	KafkaAdmin     = "veil-admin"     // super user: the broker itself, topics, accounts, ACLs; never a pipeline binary
	KafkaCollector = "veil-collector" // producer serve
	KafkaSimulator = "veil-simulator" // producer simulate
	KafkaEnricher  = "veil-enricher"  // enricher run
	KafkaSink      = "veil-sink"      // sink run
	KafkaReplay    = "veil-replay"    // enricher replay-deadletter
)

// KafkaRoles are the principals that get ACLs: every one but the super user.
func KafkaRoles() []string {
	return []string{KafkaCollector, KafkaSimulator, KafkaEnricher, KafkaSink, KafkaReplay}
}

// Groups names the consumer groups of the roles that consume in one.
type Groups struct {
	Enricher string // --enricher-group, default veil-enricher (enricher run --group)
	Sink     string // --sink-group, default veil-sink (sink run --group)
	Replay   string // --replay-group, default veil-replay (enricher replay-deadletter --group)
}

// DefaultGroups are the binaries' default --group values.
func DefaultGroups() Groups {
	return Groups{Enricher: "veil-enricher", Sink: "veil-sink", Replay: "veil-replay"}
}

// Right is one operation a principal may perform on one topic or consumer group.
type Right struct {
	Principal string                 // the user, e.g. veil-sink
	Operation kafka.ACLOperationType // Read or Write (each implies Describe)
	Resource  kafka.ResourceType     // a topic or a group
	Name      string                 // its exact name
}

func (r Right) String() string {
	return fmt.Sprintf("%s may %s %s %s", r.Principal, strings.ToLower(r.Operation.String()), r.kind(), r.Name)
}

// kind is "topic" or "group".
func (r Right) kind() string {
	if r.Resource == kafka.ResourceTypeGroup {
		return "group"
	}
	return "topic"
}

// KafkaRights is everything the roles may do on the topics tp and groups g,
// and nothing more; whatever is not listed is refused (the broker runs with
// allow.everyone.if.no.acl.found=false). Reading a topic in a consumer group
// takes Read on both the topic and the group; Read and Write imply Describe
// (metadata, offsets). No role may create, delete or alter topics, or read
// another role's group.
//
//	collector  writes raw events, opt-outs and the records Kafka refused (dead
//	           letters); reads the consent topic, to answer GET /v1/consent
//	simulator  writes raw events, nothing else
//	enricher   reads raw events and the consent topic; writes clean events and
//	           dead letters; consumes in its group
//	sink       reads clean events, writes dead letters; consumes in its group
//	replay     reads dead letters (which may hold identifiers) and writes them
//	           back to the raw or clean topic they came from; consumes in its group
func KafkaRights(tp stream.Topics, g Groups) []Right {
	topic := func(p string, op kafka.ACLOperationType, name string) Right {
		return Right{Principal: p, Operation: op, Resource: kafka.ResourceTypeTopic, Name: name}
	}
	group := func(p, name string) Right {
		return Right{Principal: p, Operation: kafka.ACLOperationTypeRead, Resource: kafka.ResourceTypeGroup, Name: name}
	}
	const read, write = kafka.ACLOperationTypeRead, kafka.ACLOperationTypeWrite
	return []Right{
		topic(KafkaCollector, write, tp.Raw),
		topic(KafkaCollector, write, tp.Consent),
		topic(KafkaCollector, read, tp.Consent),
		topic(KafkaCollector, write, tp.DeadLetter),

		topic(KafkaSimulator, write, tp.Raw),

		topic(KafkaEnricher, read, tp.Raw),
		topic(KafkaEnricher, read, tp.Consent),
		topic(KafkaEnricher, write, tp.Clean),
		topic(KafkaEnricher, write, tp.DeadLetter),
		group(KafkaEnricher, g.Enricher),

		topic(KafkaSink, read, tp.Clean),
		topic(KafkaSink, write, tp.DeadLetter),
		group(KafkaSink, g.Sink),

		topic(KafkaReplay, read, tp.DeadLetter),
		topic(KafkaReplay, write, tp.Raw),
		topic(KafkaReplay, write, tp.Clean),
		group(KafkaReplay, g.Replay),
	}
}

// Principal is the ACL principal of a user.
func Principal(user string) string { return "User:" + user }

// ACLs are the rights as ALLOW entries on literal names, from any host.
func ACLs(rights []Right) []kafka.ACLEntry {
	out := make([]kafka.ACLEntry, 0, len(rights))
	for _, r := range rights {
		out = append(out, kafka.ACLEntry{
			ResourceType:        r.Resource,
			ResourceName:        r.Name,
			ResourcePatternType: kafka.PatternTypeLiteral,
			Principal:           Principal(r.Principal),
			Host:                "*",
			Operation:           r.Operation,
			PermissionType:      kafka.ACLPermissionTypeAllow,
		})
	}
	return out
}

// Of returns the rights of one principal.
func Of(rights []Right, principal string) []Right {
	return slices.DeleteFunc(slices.Clone(rights), func(r Right) bool { return r.Principal != principal })
}
