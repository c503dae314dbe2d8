package chstore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The event_ids table (migration 0005) holds the id of every stored event with
// the partition and offset it came from and the hour of its insert. The sink
// writes it (InsertIDs): each batch's ids in one INSERT, after the batch's
// events and before its Kafka offsets are committed (until migration 0006 a
// materialized view of each event table wrote it, six small parts per batch).
// The sink rebuilds its deduplication index from it and drops its days once
// they are older than its horizon.

// StoredID is one row of event_ids.
type StoredID struct {
	Offset       int64
	EventID      string
	InsertedHour time.Time // the hour of the INSERT, in UTC
}

// IDs buffers rows of event_ids for one INSERT. It is reused across batches:
// Reset keeps the allocated slices.
type IDs struct {
	parts []uint32
	offs  []uint64
	ids   []string
	// hour is the inserted_hour of every row, fixed at the first attempt so
	// that a retried block is the same block (a cluster's replicas drop a
	// block they already hold).
	hour time.Time
}

// Add buffers the id of the event stored from partition at offset. The string
// is kept, not copied: it must stay valid until the ids are inserted or Reset.
func (x *IDs) Add(partition int, offset int64, eventID string) {
	x.parts = append(x.parts, uint32(partition))
	x.offs = append(x.offs, uint64(offset))
	x.ids = append(x.ids, eventID)
}

// Len is the number of buffered ids.
func (x *IDs) Len() int { return len(x.offs) }

// Reset empties the buffer, keeping its capacity.
func (x *IDs) Reset() {
	clear(x.ids) // they may alias the last batch's records: let them go
	x.parts, x.offs, x.ids = x.parts[:0], x.offs[:0], x.ids[:0]
	x.hour = time.Time{}
}

// subset returns the ids whose partition keep accepts, with the same hour.
func (x *IDs) subset(keep func(partition uint32) bool) *IDs {
	out := &IDs{hour: x.hour}
	for i, p := range x.parts {
		if keep(p) {
			out.Add(int(p), int64(x.offs[i]), x.ids[i])
		}
	}
	return out
}

// stamp fixes the hour of the buffered ids at the first attempt.
func (x *IDs) stamp() {
	if x.hour.IsZero() {
		x.hour = time.Now().UTC().Truncate(time.Hour)
	}
}

// InsertIDs stores x in event_ids as one INSERT. Storing an id twice costs the
// index nothing (a catch-up adds it once), so a failed INSERT may simply be
// sent again.
func (s *Store) InsertIDs(ctx context.Context, x *IDs) error {
	if x.Len() == 0 {
		return nil
	}
	x.stamp()
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.TableName("event_ids")+" (kafka_partition, kafka_offset, event_id, inserted_hour)")
	if err != nil {
		return fmt.Errorf("chstore: prepare insert into event_ids: %w", err)
	}
	defer b.Abort()
	hours := make([]time.Time, x.Len())
	for i := range hours {
		hours[i] = x.hour
	}
	for i, col := range []any{x.parts, x.offs, x.ids, hours} {
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("chstore: column %d of event_ids: %w", i, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("chstore: insert %d ids into event_ids: %w", x.Len(), err)
	}
	return nil
}

// StoredIDs calls fn with every id stored from partition at an offset above
// after and inserted in or after the hour of since, in no particular order,
// until fn returns an error. It reads a range of event_ids' primary key and
// streams the rows: memory stays one block of the result, however many.
func (s *Store) StoredIDs(ctx context.Context, partition int, after int64, since time.Time, fn func(StoredID) error) error {
	q := fmt.Sprintf("SELECT kafka_offset, event_id, inserted_hour FROM %s WHERE kafka_partition = %d AND inserted_hour >= toStartOfHour(toDateTime(%d))",
		s.TableName("event_ids"), partition, since.Unix())
	if after >= 0 {
		q += fmt.Sprintf(" AND kafka_offset > %d", after)
	}
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("chstore: stored ids of partition %d above offset %d: %w", partition, after, err)
	}
	defer rows.Close()
	for rows.Next() {
		var off uint64
		var id StoredID
		if err := rows.Scan(&off, &id.EventID, &id.InsertedHour); err != nil {
			return fmt.Errorf("chstore: stored ids of partition %d: %w", partition, err)
		}
		id.Offset = int64(off)
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("chstore: stored ids of partition %d: %w", partition, err)
	}
	return nil
}

// HasStoredID reports whether event_ids holds the record at offset of partition.
func (s *Store) HasStoredID(ctx context.Context, partition int, offset int64) (bool, error) {
	var n uint64
	q := fmt.Sprintf("SELECT count() FROM %s WHERE kafka_partition = %d AND kafka_offset = %d", s.TableName("event_ids"), partition, offset)
	if err := s.conn.QueryRow(ctx, q).Scan(&n); err != nil {
		return false, fmt.Errorf("chstore: stored id at offset %d of partition %d: %w", offset, partition, err)
	}
	return n > 0, nil
}

// DropStoredIDsBefore drops the days of event_ids whose every row was inserted
// before cutoff, and returns them as YYYYMMDD. A day goes once cutoff is a day
// past its end, so that whatever the server's time zone (its days are local),
// no row inserted after cutoff goes with it. It is idempotent, and safe to run
// from several sinks at once.
func (s *Store) DropStoredIDsBefore(ctx context.Context, cutoff time.Time) ([]uint32, error) {
	ids := strings.TrimPrefix(s.TableName("event_ids"), s.db+".") // event_ids_local on a cluster's server
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", s.db, ids)
	if err != nil {
		return nil, fmt.Errorf("chstore: days of %s.event_ids: %w", s.db, err)
	}
	var days []uint32
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("chstore: days of %s.event_ids: %w", s.db, err)
		}
		d, err := time.Parse("20060102", p)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("chstore: %s.event_ids: partition %q is not a day: %w", s.db, p, err)
		}
		if !d.AddDate(0, 0, 2).After(cutoff) {
			days = append(days, uint32(d.Year()*10000+int(d.Month())*100+d.Day()))
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("chstore: days of %s.event_ids: %w", s.db, err)
	}
	var done []uint32
	for _, d := range days {
		if err := s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %d", quoteIdent(s.db), quoteIdent(ids), d)); err != nil {
			return done, fmt.Errorf("chstore: drop day %d of %s.event_ids: %w", d, s.db, err)
		}
		done = append(done, d)
	}
	return done, nil
}
