package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// writeDeadline bounds a request's Kafka writes after the request itself gave up
// (--produce-timeout): 2 minutes, or twice the produce timeout if that is longer.
// Until then the request's bytes stay counted in the in-flight budget, because the
// writer still holds its records; kafka-go's own retries (5 attempts of at most
// 10s) normally end well before.
func (s *Server) writeDeadline() time.Duration { return max(2*time.Minute, 2*s.cfg.ProduceTimeout) }

// produceResult is the outcome of writing one request's records.
type produceResult struct {
	// refused maps the index of a record Kafka refused on its own to the reason.
	refused      map[int]error
	deadLettered int
	// err means some record was neither acknowledged nor refused: the request
	// answers 503 and the client retries the whole batch.
	err error
}

// produceAsync writes msgs in the background and releases l when the writer is done
// with them, whether or not the request is still waiting. The write ends with the
// server's life, stream.DrainTimeout into a shutdown.
func (s *Server) produceAsync(msgs []kafka.Message, l *lease) <-chan produceResult {
	done := make(chan produceResult, 1)
	s.writes.Add(1)
	go func() {
		defer s.writes.Done()
		defer l.release()
		ctx, cancel := context.WithTimeout(s.life, s.writeDeadline())
		defer cancel()
		start := time.Now()
		res := s.produce(ctx, msgs)
		if res.err != nil && s.life.Err() != nil {
			res.err = fmt.Errorf("the collector is shutting down: %w", res.err)
		}
		s.m.produce.Observe(time.Since(start).Seconds())
		done <- res
	}()
	return done
}

// produce writes msgs to the raw topic and returns when Kafka acknowledged or
// failed every one. Records Kafka refuses by themselves are written to the
// dead-letter topic and listed in refused; any other failure is err, and then
// nothing may be reported accepted (some records may have been written anyway:
// the client's retry duplicates them, which the sink removes by event id).
//
// A refusal seen in the shared batch may be caused by another record of the
// batch (a batch over the topic's max.message.bytes), so the refused records are
// written again one per produce request before any is called refused.
func (s *Server) produce(ctx context.Context, msgs []kafka.Message) produceResult {
	err := s.deps.Batched.WriteMessages(ctx, msgs...)
	if err == nil {
		return produceResult{}
	}
	suspects, err := splitErrors(err, len(msgs))
	if err != nil {
		return produceResult{err: err}
	}
	retry := make([]kafka.Message, len(suspects))
	for j, i := range suspects {
		retry[j] = msgs[i]
	}
	refused := map[int]error{}
	if werr := s.deps.Single.WriteMessages(ctx, retry...); werr != nil {
		again, err := splitErrors(werr, len(retry))
		if err != nil {
			return produceResult{err: err}
		}
		for _, j := range again {
			refused[suspects[j]] = writeErrorAt(werr, j)
		}
	}
	if len(refused) == 0 {
		return produceResult{}
	}
	return s.deadLetter(ctx, msgs, refused)
}

// deadLetter writes the refused records to the dead-letter topic.
func (s *Server) deadLetter(ctx context.Context, msgs []kafka.Message, refused map[int]error) produceResult {
	now := s.now()
	order := make([]int, 0, len(refused))
	dl := make([]kafka.Message, 0, len(refused))
	for i, why := range refused {
		src := msgs[i]
		src.Partition, src.Offset = -1, -1 // never written
		order = append(order, i)
		dl = append(dl, stream.DeadLetter(s.deps.Topics.DeadLetter, "collector", reasonRefused, why, src, now))
	}
	res := produceResult{refused: map[int]error{}, deadLettered: len(dl)}
	var dlErrs kafka.WriteErrors
	if err := s.deps.Single.WriteMessages(ctx, dl...); err != nil {
		if !errors.As(err, &dlErrs) || len(dlErrs) != len(dl) {
			return produceResult{err: fmt.Errorf("dead-letter %d records: %w", len(dl), err)}
		}
	}
	for j, i := range order {
		why := refused[i]
		switch e := errAt(dlErrs, j); {
		case e == nil:
			res.refused[i] = fmt.Errorf("Kafka refused the record (it was written to the dead-letter topic): %w", why)
			s.log.Warn("record dead-lettered", "topic", s.deps.Topics.Raw, "err", why)
		case refusedRecord(e):
			res.deadLettered--
			res.refused[i] = fmt.Errorf("Kafka refused the record and its dead letter: %w", why)
			s.log.Error("dead letter refused", "topic", s.deps.Topics.DeadLetter, "err", e, "record_err", why)
		default:
			return produceResult{err: fmt.Errorf("dead-letter: %w", e)}
		}
	}
	return res
}

// splitErrors sorts the errors of a write of n records: it returns the indexes of
// the records Kafka refused (a record-level error) or an error when any other
// failure occurred.
func splitErrors(err error, n int) ([]int, error) {
	var werr kafka.WriteErrors
	if !errors.As(err, &werr) || len(werr) != n {
		return nil, err
	}
	var refused []int
	for i, e := range werr {
		switch {
		case e == nil:
		case refusedRecord(e):
			refused = append(refused, i)
		default:
			return nil, e
		}
	}
	return refused, nil
}

func writeErrorAt(err error, i int) error {
	var werr kafka.WriteErrors
	if errors.As(err, &werr) {
		return errAt(werr, i)
	}
	return err
}

func errAt(werr kafka.WriteErrors, i int) error {
	if i < len(werr) {
		return werr[i]
	}
	return nil
}

// refusedRecord reports whether Kafka refused a record for what it is rather than
// because of the broker's state: retrying it unchanged cannot succeed.
func refusedRecord(err error) bool {
	for _, e := range []kafka.Error{kafka.MessageSizeTooLarge, kafka.RecordListTooLarge, kafka.InvalidRecord, kafka.InvalidTimestamp} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
