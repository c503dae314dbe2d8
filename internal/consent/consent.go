package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/internal/stream"
)

// Record is the value of a consent record.
type Record struct {
	Installation string    `json:"installation_id"`
	OptOut       []string  `json:"opt_out"`
	UpdatedAt    time.Time `json:"updated_at"` // when the opt-outs were set, to UpdatedAtPrecision
}

// UpdatedAtPrecision is how precisely a consent record says when it was set. The
// consent topic keeps records forever next to the installation id, and answers
// show the time to whoever holds a token: an hour says when a setting changed
// without recording when someone was at their device.
const UpdatedAtPrecision = time.Hour

// Validate checks the categories.
func (r Record) Validate() error {
	if r.Installation == "" {
		return fmt.Errorf("installation_id is required")
	}
	for _, c := range r.OptOut {
		if !slices.Contains(privacy.Categories, c) {
			return fmt.Errorf("unknown category %q (one of %v)", c, privacy.Categories)
		}
	}
	return nil
}

// Store is the current opt-outs of every installation that has any.
type Store struct {
	mu  sync.RWMutex
	out map[string]optOuts
}

// optOuts are an installation's opt-outs and when they were set.
type optOuts struct {
	categories []string
	updatedAt  time.Time
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{out: map[string]optOuts{}} }

// OptedOut reports whether installation opted out of category.
func (s *Store) OptedOut(installation, category string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Contains(s.out[installation].categories, category)
}

// Get returns the opt-outs of an installation.
func (s *Store) Get(installation string) []string {
	opt, _ := s.State(installation)
	return opt
}

// State returns the opt-outs of an installation and when they were set, to
// UpdatedAtPrecision; the time is zero when it has none, or when its record
// carries no time.
func (s *Store) State(installation string) (optOut []string, updatedAt time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.out[installation]
	return slices.Clone(o.categories), o.updatedAt
}

// Len is the number of installations with opt-outs.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.out)
}

// Apply folds one consent record into the store. A record that does not parse is
// an error and changes nothing.
func (s *Store) Apply(key, value []byte) error {
	inst := string(key)
	var o optOuts
	if len(value) > 0 {
		var r Record
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("consent record for %q: %w", inst, err)
		}
		// Records written before the time was coarsened carry it exactly.
		o = optOuts{categories: r.OptOut, updatedAt: r.UpdatedAt.UTC().Truncate(UpdatedAtPrecision)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(o.categories) == 0 {
		delete(s.out, inst)
	} else {
		s.out[inst] = o
	}
	return nil
}

// Publish writes rec to the consent topic and returns once Kafka acknowledged it.
func Publish(ctx context.Context, w Writer, topic string, rec Record) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	var value []byte
	if len(rec.OptOut) > 0 {
		var err error
		if value, err = json.Marshal(rec); err != nil {
			return err
		}
	}
	return w.WriteMessages(ctx, kafka.Message{Topic: topic, Key: []byte(rec.Installation), Value: value,
		Headers: []kafka.Header{{Key: stream.HeaderContentType, Value: []byte("application/json")}}})
}

// Follow reads the consent topic from the start into s (a stream follower). It
// closes loaded once it has applied every record present when it started, then
// keeps following until ctx ends. Bad records are logged and skipped (they
// cannot be dead-lettered usefully: the topic is the source of truth and the
// next record for the key replaces them). It fails when the topic's partitions
// cannot be listed.
func Follow(ctx context.Context, c stream.Cluster, topic string, s *Store, log *slog.Logger, loaded chan<- struct{}) error {
	src, err := stream.NewFollower(ctx, c, topic, log)
	if err != nil {
		return fmt.Errorf("consent: %w", err)
	}
	defer src.Close()
	go func() {
		select {
		case <-src.Loaded():
			close(loaded)
		case <-ctx.Done():
		}
	}()
	return stream.Consume(ctx, src, log, func(_ context.Context, batch []kafka.Message) error {
		for _, m := range batch {
			if err := s.Apply(m.Key, m.Value); err != nil {
				log.Warn("skipping bad consent record", "partition", m.Partition, "offset", m.Offset, "err", err)
			}
		}
		return nil
	})
}
