// Package collector is the HTTP front door of the pipeline (`producer serve`):
// devices and media servers POST batches of raw events to /v1/events, as JSON or as
// Avro single-object records, and the collector validates each event against its
// raw schema and produces the valid ones to the raw topic, keyed by installation.
//
// Guarantees:
//   - 202 means Kafka acknowledged (acks=all) every event that the response does not
//     list as rejected. Nothing is reported accepted that Kafka did not acknowledge.
//   - A Kafka failure answers 503 with Retry-After and the client retries the whole
//     batch; event ids make the retry idempotent downstream (the sink removes the
//     copies). Clients that want idempotent retries must send their own event_id:
//     an event without one gets a fresh random UUID on every attempt.
//   - A record Kafka refuses on its own (too large for the topic, invalid record) is
//     written to the dead-letter topic with stage "collector" and reported rejected.
//   - Memory is bounded: request bodies, decompressed bodies and encoded records
//     count against one in-flight byte budget; a request that does not fit is
//     answered 503 at once instead of queueing. Bytes stay counted until the Kafka
//     writer has let go of the records, so a slow or stopped broker cannot make the
//     collector grow. A body counts as it arrives, not as declared: an upload that
//     declares 4 MiB and sends a byte at a time holds a few KiB.
//   - Slow or greedy clients cannot block the others. A body must arrive at
//     --min-body-rate on average and may fall behind by at most --body-timeout,
//     else it is answered 408 and its connection closed; headers have
//     --header-timeout. At most --max-connections connections are open: a new one
//     beyond closes the longest idle keep-alive connection, or waits for a busy one
//     to finish. Each credential (a fleet's token; the key authentication puts in
//     the request context) has a token bucket of --rate-limit requests per second,
//     and a request over it is answered 429 with Retry-After before its body is
//     read; the buckets kept are bounded by --rate-credentials.
//   - Shutdown stops accepting connections, lets in-flight requests finish, waits
//     for their records to be acknowledged or failed, then closes the writers.
//
// Authentication (auth.go, internal/credential): every /v1 request carries a
// bearer credential with a role. A relay's token (configured in --tokens-file or
// VEIL_TOKENS, never on the command line) posts events naming any installation;
// an installation credential, signed with a secret of --credential-secrets-file
// and bound to one installation id, posts only events naming that installation
// (a batch naming another is refused whole with 403) and reaches only its own
// consent; an operator's token sets any installation's consent and issues
// installation credentials (POST /v1/installations/{installation}/credential).
// Missing, unknown, expired or revoked credentials get 401, credentials not
// allowed for the resource 403, both with the reason. Credential(ctx) names who
// a request authenticated as: the stable key of rate limits and logs, never a
// secret.
//
// Other endpoints (consent, privacy tab) mount on the same router with
// Server.Handle and Server.HandleFor and share its authentication. API.md
// documents the HTTP API.
package collector
