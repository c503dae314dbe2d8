package chstore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The event_ids table (migration 0005) holds the id of every stored event with
// the partition and offset it came from and the hour of its insert, written by
// a materialized view of each event table. The sink rebuilds its deduplication
// index from it and drops its days once they are older than its horizon.

// StoredID is one row of event_ids.
type StoredID struct {
	Offset       int64
	EventID      string
	InsertedHour time.Time // the hour of the INSERT, in UTC
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
