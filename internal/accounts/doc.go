// Package accounts says who may do what in Kafka, and makes it so. Each
// pipeline binary runs as the principal of its role (veil-collector,
// veil-simulator, veil-enricher, veil-sink, veil-replay), authenticated with
// SCRAM-SHA-512; KafkaRights lists every operation each role may perform on the
// pipeline's topics and consumer groups, and the broker refuses everything
// else. veil-admin, the super user, creates topics, passwords and ACLs:
// `veilctl kafka setup` sets every role's password from its file and makes the
// roles' ACLs exactly their rights; scripts/kafka runs it on each start.
//
// Guarantees: Setup is idempotent; it fails, naming the role, when a role
// cannot log in afterwards; Sync never touches ACLs of other principals or on
// other names. Passwords are read from files and sent to the broker only as
// salted SCRAM credentials; nothing here logs or prints one.
package accounts
