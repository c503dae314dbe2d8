// Package producer is the pipeline's entry point. Serve runs the HTTP collector
// with the consent API and the privacy tab mounted on its router; Simulate drives a
// simulated fleet into the raw topic.
//
// Delivery: a raw event counts as sent only when Kafka acknowledged it with acks=all;
// an event whose write failed is counted as failed and reported, never silently
// dropped. A retried write may store an event twice; the event id lets the sink
// remove the copy. A consent change (PUT /v1/consent) is answered 200 only once
// Kafka acknowledged its record with acks=all.
package producer
