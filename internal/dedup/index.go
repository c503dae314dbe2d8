package dedup

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// Slices is how many time buckets one horizon spans. A lookup probes every
// bucket that may hold an entry younger than the horizon, Slices+1 of them, and
// a bucket is dropped whole once all of it is older than the horizon, so an
// entry lives between one horizon and one horizon plus a bucket. Four buckets
// keep lookups at five probes (each a bloom-filtered read) and the index at
// most a quarter larger than the horizon needs.
const Slices = 4

// DefaultMemory is what the index may hold in memory when Options.Memory is 0:
// memtables and block cache together. With 16 MiB the sink stays under
// 200 MiB at full rate; 32 MiB saved it a few percent of the index's CPU.
const DefaultMemory = 16 << 20

// Key layout (integers big-endian, so id keys sort by time first):
//
//	'i' bucket(8) partition(4) id(16)  an event id indexed during that bucket; empty value
//	'c' partition(4)                   the partition's Checkpoint: indexed(8) stored(8)
//	'm'                                what the index is of (meta, JSON)
//
// Time first, because the ids are random: every flush of new ids overlaps the
// whole key range of the bucket being filled, and compactions rewrite what
// overlaps. With the bucket first, that is the current bucket alone; older
// buckets, of every partition, lie outside it and are never rewritten.
const (
	prefixID         = 'i'
	prefixCheckpoint = 'c'
	idKeyLen         = 1 + 8 + 4 + 16
)

var keyMeta = []byte{'m'}

// Options of an index.
type Options struct {
	Dir     string        // directory of the index, created if missing; one process at a time
	Horizon time.Duration // how long an event id is remembered after it was indexed
	// Identity names what the index is of (the sink passes its ClickHouse
	// database and clean topic). An index opened with another identity, or
	// another horizon, is emptied: its entries would describe other data or
	// other buckets.
	Identity string
	Memory   int64            // bytes of block cache and memtables; DefaultMemory when 0
	Now      func() time.Time // the clock; time.Now when nil
	Log      *slog.Logger     // Pebble's own messages, at debug level (errors at warn); discarded when nil
}

// Index remembers, per Kafka partition, the ids of the events stored within the
// horizon, on disk. It is safe for concurrent use.
type Index struct {
	db      *pebble.DB
	horizon time.Duration
	width   time.Duration // of a bucket: horizon / Slices
	now     func() time.Time
	commit  sync.Mutex // serializes checkpoint read-modify-writes

	expireMu  sync.Mutex
	expiredTo uint64 // buckets below it were deleted by this process
}

type meta struct {
	Identity string `json:"identity"`
	WidthNS  int64  `json:"bucket_width_ns"`
}

// Open opens or creates the index in o.Dir. Another process holding the same
// directory makes Open fail: every sink instance needs its own.
func Open(o Options) (*Index, error) {
	if o.Horizon < Slices*time.Millisecond {
		return nil, fmt.Errorf("dedup: horizon %s: must be at least %s", o.Horizon, Slices*time.Millisecond)
	}
	if o.Dir == "" {
		return nil, errors.New("dedup: no directory")
	}
	if o.Memory <= 0 {
		o.Memory = DefaultMemory
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("dedup: %w", err)
	}
	// Pebble counts its memtables against the block cache: of o.Memory, up to
	// half goes to the two memtables (one filling while the other is flushed)
	// and the rest caches index, filter and data blocks.
	cache := pebble.NewCache(o.Memory)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                uint64(o.Memory / 4),
		MemTableStopWritesThreshold: 2,
		// ClickHouse is the index's source of truth: after a crash the sink
		// catches the index up from the ids ClickHouse stored above the
		// checkpoint, and a checkpoint is written in the same batch as its
		// entries, so losing the memtables loses both together. A WAL would only
		// write every entry twice.
		DisableWAL:         true,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{o.Log},
	}
	// A small base level: with the default 64 MB, an index of less than some
	// hundreds of MB has no level between L0 and the last, and every flush's
	// compaction rewrote the whole current bucket there. Intermediate levels
	// merge new ids into little data first.
	opts.LBaseMaxBytes = 4 << 20
	// Small files at every level keep each file's bloom filter small enough to
	// sit in the block cache (Pebble's default doubles the size per level, up to
	// 128 MB files with 5 MB filters at the bottom).
	for i := range opts.TargetFileSizes {
		opts.TargetFileSizes[i] = 8 << 20
	}
	// No file spans two buckets: flushes and compactions cut their output at
	// every bucket's first key. Otherwise the file holding the end of one
	// bucket and the start of the next is rewritten by every compaction of
	// the current bucket, and Expire could not drop it whole.
	opts.Experimental.SpanPolicyFunc = bucketSpans
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10) // 1% false positives: a miss rarely reads a block
		// Ids are random bytes: compression would cost CPU and save nothing;
		// the shared partition and bucket prefix is elided by the blocks' prefix
		// encoding anyway.
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	db, err := pebble.Open(o.Dir, opts)
	if err != nil {
		// Most often another sink holds the directory's lock.
		return nil, fmt.Errorf("dedup: open %s (each sink instance needs a directory of its own): %w", o.Dir, err)
	}
	x := &Index{db: db, horizon: o.Horizon, width: o.Horizon / Slices, now: o.Now}
	if err := x.checkMeta(meta{Identity: o.Identity, WidthNS: int64(x.width)}, o.Log); err != nil {
		db.Close()
		return nil, err
	}
	return x, nil
}

// checkMeta empties the index when it was built for something else.
func (x *Index) checkMeta(want meta, log *slog.Logger) error {
	data, closer, err := x.db.Get(keyMeta)
	var have meta
	switch {
	case err == nil:
		jerr := json.Unmarshal(data, &have)
		closer.Close()
		if jerr == nil && have == want {
			return nil
		}
		if log != nil {
			log.Warn("dedup index built for other data or another horizon; starting it afresh",
				"had_identity", have.Identity, "had_bucket", time.Duration(have.WidthNS), "identity", want.Identity, "bucket", time.Duration(want.WidthNS))
		}
	case errors.Is(err, pebble.ErrNotFound):
	default:
		return fmt.Errorf("dedup: read meta: %w", err)
	}
	b := x.db.NewBatch()
	defer b.Close()
	if err := x.deleteBuckets(b, 0, math.MaxUint64); err != nil {
		return err
	}
	_ = b.DeleteRange([]byte{prefixCheckpoint}, []byte{prefixCheckpoint + 1}, nil)
	data, _ = json.Marshal(want)
	_ = b.Set(keyMeta, data, nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("dedup: write meta: %w", err)
	}
	if err := x.db.Flush(); err != nil { // there is no WAL: make the emptying stick
		return fmt.Errorf("dedup: write meta: %w", err)
	}
	return nil
}

// Close flushes the memtables (there is no WAL to replay them from) and closes
// the index.
func (x *Index) Close() error {
	ferr := x.db.Flush()
	if err := x.db.Close(); err != nil {
		return fmt.Errorf("dedup: close: %w", err)
	}
	if ferr != nil {
		return fmt.Errorf("dedup: flush: %w", ferr)
	}
	return nil
}

// Horizon is how long an id is remembered at least.
func (x *Index) Horizon() time.Duration { return x.horizon }

// BucketWidth is the width of a bucket: an id is remembered at most this much
// longer than the horizon.
func (x *Index) BucketWidth() time.Duration { return x.width }

// DiskBytes is the space the index takes on disk.
func (x *Index) DiskBytes() uint64 { return x.db.Metrics().DiskSpaceUsage() }

func (x *Index) bucket(t time.Time) uint64 {
	ns := t.UnixNano()
	if ns < 0 {
		return 0
	}
	return uint64(ns) / uint64(x.width)
}

// live returns the buckets that may hold an entry indexed within the horizon
// before now: an entry of bucket lo may be up to one bucket older than that.
func (x *Index) live(now time.Time) (lo, hi uint64) {
	return x.bucket(now.Add(-x.horizon)), x.bucket(now)
}

func idKey(k *[idKeyLen]byte, part int, bucket uint64, id ID) {
	k[0] = prefixID
	binary.BigEndian.PutUint64(k[1:], bucket)
	binary.BigEndian.PutUint32(k[9:], uint32(part))
	copy(k[13:], id[:])
}

// bucketKey is the first key of a bucket.
func bucketKey(bucket uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixID
	binary.BigEndian.PutUint64(k[1:], bucket)
	return k
}

// bucketSpans tells Pebble where an output file must end: at the next bucket.
// Keys outside the id range (checkpoints, meta) form spans of their own.
func bucketSpans(start []byte) (pebble.SpanPolicy, []byte, error) {
	switch {
	case len(start) == 0 || start[0] < prefixID:
		return pebble.SpanPolicy{}, []byte{prefixID}, nil
	case start[0] > prefixID:
		return pebble.SpanPolicy{}, nil, nil
	case len(start) < 9:
		return pebble.SpanPolicy{}, bucketKey(0), nil
	}
	return pebble.SpanPolicy{}, bucketEnd(binary.BigEndian.Uint64(start[1:9])), nil
}

// bucketEnd is the first key after bucket b.
func bucketEnd(b uint64) []byte {
	if b == math.MaxUint64 {
		return []byte{prefixID + 1}
	}
	return bucketKey(b + 1)
}

// partKey is the first key of a partition within a bucket.
func partKey(bucket uint64, part int) []byte {
	k := make([]byte, 13)
	k[0] = prefixID
	binary.BigEndian.PutUint64(k[1:], bucket)
	binary.BigEndian.PutUint32(k[9:], uint32(part))
	return k
}

func checkpointKey(part int) []byte {
	k := make([]byte, 5)
	k[0] = prefixCheckpoint
	binary.BigEndian.PutUint32(k[1:], uint32(part))
	return k
}

// Checkpoint is how far the index has followed one partition.
type Checkpoint struct {
	// Indexed is the highest offset whose record the index accounts for:
	// stored (its id is in the index), found stored already, or dropped as a
	// copy. ClickHouse's ids above it are what the index may lack. -1: none.
	Indexed int64
	// Stored is the highest offset the index knows ClickHouse stored. The sink
	// checks that ClickHouse still has it: when it has not, the index describes
	// another database (dropped and created again) and is emptied. -1: none.
	Stored int64
}

// None is the checkpoint of a partition the index knows nothing of.
var None = Checkpoint{Indexed: -1, Stored: -1}

func (c Checkpoint) encode() []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(c.Indexed))
	binary.BigEndian.PutUint64(v[8:], uint64(c.Stored))
	return v
}

func (c Checkpoint) merge(o Checkpoint) Checkpoint {
	return Checkpoint{Indexed: max(c.Indexed, o.Indexed), Stored: max(c.Stored, o.Stored)}
}

// Checkpoint returns the checkpoint of partition part, None if it has none.
func (x *Index) Checkpoint(part int) (Checkpoint, error) {
	v, closer, err := x.db.Get(checkpointKey(part))
	if errors.Is(err, pebble.ErrNotFound) {
		return None, nil
	}
	if err != nil {
		return None, fmt.Errorf("dedup: checkpoint of partition %d: %w", part, err)
	}
	defer closer.Close()
	if len(v) != 16 {
		return None, fmt.Errorf("dedup: checkpoint of partition %d: %d bytes", part, len(v))
	}
	return Checkpoint{Indexed: int64(binary.BigEndian.Uint64(v)), Stored: int64(binary.BigEndian.Uint64(v[8:]))}, nil
}

// Forget removes everything the index holds of partition part: its entries in
// every bucket a lookup may probe, and its checkpoint. Older buckets are left
// to Expire.
func (x *Index) Forget(part int) error {
	x.commit.Lock()
	defer x.commit.Unlock()
	b := x.db.NewBatch()
	defer b.Close()
	lo, hi := x.live(x.now())
	if lo > 0 {
		lo-- // as far as the last Expire may have left
	}
	for bk := lo; bk <= hi+1; bk++ { // hi+1: the clock may move on during the batch
		_ = b.DeleteRange(partKey(bk, part), partKey(bk, part+1), nil)
	}
	_ = b.Delete(checkpointKey(part), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("dedup: forget partition %d: %w", part, err)
	}
	return nil
}

// Expire deletes the buckets whose entries are all older than the horizon, in
// one range deletion, which Pebble turns into dropping whole files. Lookups
// never probe those buckets, so when Expire runs changes the disk space, not
// the answers. It reports whether there was anything new to expire.
func (x *Index) Expire() (bool, error) {
	lo, _ := x.live(x.now())
	x.expireMu.Lock()
	defer x.expireMu.Unlock()
	if lo <= x.expiredTo {
		return false, nil
	}
	b := x.db.NewBatch()
	defer b.Close()
	if err := x.deleteBuckets(b, 0, lo); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return false, fmt.Errorf("dedup: expire buckets before %d: %w", lo, err)
	}
	x.expiredTo = lo
	return true, nil
}

// deleteBuckets adds to b one range deletion per bucket in [from, to) that
// holds ids. One per bucket, not one over the range: flushes and compactions
// cut their output at every bucket boundary a tombstone covers (bucketSpans),
// and a range over buckets never written (a short horizon after a long
// pause) would cut it into as many empty files.
func (x *Index) deleteBuckets(b *pebble.Batch, from, to uint64) error {
	upper := []byte{prefixID + 1}
	if to < math.MaxUint64 {
		upper = bucketKey(to)
	}
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: bucketKey(from), UpperBound: upper})
	if err != nil {
		return fmt.Errorf("dedup: delete buckets: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < 9 {
			ok = it.Next()
			continue
		}
		bk := binary.BigEndian.Uint64(k[1:9])
		_ = b.DeleteRange(bucketKey(bk), bucketEnd(bk), nil)
		if bk == math.MaxUint64 {
			break
		}
		ok = it.SeekGE(bucketKey(bk + 1))
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("dedup: delete buckets: %w", err)
	}
	return nil
}

// Batch is one round of lookups and additions at one moment: its time fixes the
// bucket new ids go to and the buckets lookups probe. Ids added to a batch are
// found by its own lookups at once, and by everyone once it is committed. A
// Batch is for one goroutine at a time.
type Batch struct {
	x      *Index
	now    time.Time
	lo, hi uint64
	it     *pebble.Iterator // what the index held at the first lookup since Reset
	// pending holds the ids of adds[:indexed], filled only when a lookup
	// needs it: the sink's batch is one Lookup, then Commit, and its 25,000
	// additions need no map (hashing them was 5% of the index's CPU).
	pending map[pendingKey]struct{}
	indexed int
	adds    []addition // the batch's additions, sorted at Commit
	cps     map[int]Checkpoint
	order   []int // Lookup's scratch
	key     [idKeyLen]byte
}

type pendingKey struct {
	part uint32
	id   ID
}

// addition is an id key as integers, which sort in the order of the key's
// bytes, and faster than the bytes.
type addition struct {
	bucket uint64
	part   uint32
	hi, lo uint64
}

func (a addition) compare(c addition) int {
	switch {
	case a.bucket != c.bucket:
		return cmp.Compare(a.bucket, c.bucket)
	case a.part != c.part:
		return cmp.Compare(a.part, c.part)
	case a.hi != c.hi:
		return cmp.Compare(a.hi, c.hi)
	}
	return cmp.Compare(a.lo, c.lo)
}

// NewBatch starts a batch at the current time.
func (x *Index) NewBatch() *Batch {
	b := &Batch{x: x, pending: map[pendingKey]struct{}{}, cps: map[int]Checkpoint{}}
	b.Reset()
	return b
}

// Reset empties the batch and moves it to the current time, keeping its memory.
// Its lookups see what was committed before its first lookup, and its own
// additions.
func (b *Batch) Reset() {
	b.Close()
	b.now = b.x.now()
	b.lo, b.hi = b.x.live(b.now)
	clear(b.pending)
	b.indexed = 0
	clear(b.cps)
	b.adds = b.adds[:0]
}

// iter returns the batch's view of the index.
func (b *Batch) iter() (*pebble.Iterator, error) {
	if b.it == nil {
		// Bloom filters at every level, the last one too: Pebble skips them at
		// L6 by default, where most of this index lives and most lookups miss.
		it, err := b.x.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
		if err != nil {
			return nil, fmt.Errorf("dedup: look up: %w", err)
		}
		b.it = it
	}
	return b.it, nil
}

// probe reports whether id is in partition part of bucket bk. A prefix seek
// finds the key itself or nothing; seeks to ascending keys step forward from
// the last position instead of searching from the top.
func (b *Batch) probe(it *pebble.Iterator, part int, bk uint64, id ID) (bool, error) {
	idKey(&b.key, part, bk, id)
	if it.SeekPrefixGE(b.key[:]) {
		return true, nil
	}
	if err := it.Error(); err != nil {
		return false, fmt.Errorf("dedup: look up partition %d: %w", part, err)
	}
	return false, nil
}

// Contains reports whether id was indexed in partition part within the horizon
// (at most one bucket more), or added to this batch. It adds nothing.
func (b *Batch) Contains(part int, id ID) (bool, error) {
	b.syncPending()
	if _, ok := b.pending[pendingKey{uint32(part), id}]; ok {
		return true, nil
	}
	it, err := b.iter()
	if err != nil {
		return false, err
	}
	for bk := b.hi; ; bk-- {
		if found, err := b.probe(it, part, bk, id); found || err != nil {
			return found, err
		}
		if bk == b.lo {
			return false, nil
		}
	}
}

// Query is one question to Lookup.
type Query struct {
	Part int
	ID   ID
	Dup  bool // Lookup's answer
}

// Lookup answers every query as if, one after the other in their order, it
// was looked up with Contains and added when not found: Dup is set when the id
// was indexed within the horizon, was added to the batch before, or is asked
// by an earlier query of qs. The ids of the other queries are added. It asks
// the index in key order, bucket by bucket, so successive seeks stay in the
// same files and blocks. On error the batch must be Reset.
func (b *Batch) Lookup(qs []Query) error {
	b.syncPending()
	order := b.order[:0]
	for i := range qs {
		_, qs[i].Dup = b.pending[pendingKey{uint32(qs[i].Part), qs[i].ID}]
		if !qs[i].Dup {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(i, j int) int {
		if c := cmp.Compare(qs[i].Part, qs[j].Part); c != 0 {
			return c
		}
		if c := bytes.Compare(qs[i].ID[:], qs[j].ID[:]); c != 0 {
			return c
		}
		return cmp.Compare(i, j) // copies in their order: the first is kept
	})
	for k := 1; k < len(order); k++ {
		if p, q := &qs[order[k-1]], &qs[order[k]]; p.Part == q.Part && p.ID == q.ID {
			q.Dup = true
		}
	}
	b.order = order
	it, err := b.iter()
	if err != nil {
		return err
	}
	for bk := b.hi; ; bk-- {
		for _, i := range order {
			if q := &qs[i]; !q.Dup {
				if q.Dup, err = b.probe(it, q.Part, bk, q.ID); err != nil {
					return err
				}
			}
		}
		if bk == b.lo {
			break
		}
	}
	for _, i := range order {
		if !qs[i].Dup {
			b.add(qs[i].Part, b.hi, qs[i].ID)
		}
	}
	return nil
}

// Add indexes id in partition part as of the batch's time.
func (b *Batch) Add(part int, id ID) { b.add(part, b.hi, id) }

// AddAt indexes id as of time at (the batch's time if at is later), and
// reports whether it did: an id dated before the horizon is not added.
func (b *Batch) AddAt(part int, id ID, at time.Time) bool {
	bk := b.hi
	if at.Before(b.now) {
		bk = b.x.bucket(at)
	}
	if bk < b.lo {
		return false
	}
	b.add(part, bk, id)
	return true
}

func (b *Batch) add(part int, bucket uint64, id ID) {
	b.adds = append(b.adds, addition{bucket: bucket, part: uint32(part),
		hi: binary.BigEndian.Uint64(id[:8]), lo: binary.BigEndian.Uint64(id[8:])})
}

// syncPending enters the additions made since the last lookup into pending.
func (b *Batch) syncPending() {
	for _, a := range b.adds[b.indexed:] {
		var id ID
		binary.BigEndian.PutUint64(id[:8], a.hi)
		binary.BigEndian.PutUint64(id[8:], a.lo)
		b.pending[pendingKey{a.part, id}] = struct{}{}
	}
	b.indexed = len(b.adds)
}

// Added is the number of additions since the last Reset.
func (b *Batch) Added() int { return len(b.adds) }

// Advance raises partition part's checkpoint to at least cp when the batch is
// committed.
func (b *Batch) Advance(part int, cp Checkpoint) {
	have, ok := b.cps[part]
	if !ok {
		have = None
	}
	b.cps[part] = have.merge(cp)
}

// Commit writes the batch's ids and checkpoints at once, and resets it. Nothing
// is written if it fails. It does not wait for the disk: a crash may lose the
// last commits, ids and checkpoints together (see Options).
func (b *Batch) Commit() error {
	// In key order, the memtable inserts each key next to the last one instead
	// of searching its skiplist from the top: a third of the index's CPU when
	// the keys came in the order of the records.
	slices.SortFunc(b.adds, addition.compare)
	if b.indexed < len(b.adds) {
		// The sort mixed the additions pending holds with the others: should
		// the commit fail, the next lookup enters them all again.
		clear(b.pending)
		b.indexed = 0
	}
	pb := b.x.db.NewBatch()
	defer pb.Close()
	var k [idKeyLen]byte
	for _, a := range b.adds {
		k[0] = prefixID
		binary.BigEndian.PutUint64(k[1:], a.bucket)
		binary.BigEndian.PutUint32(k[9:], a.part)
		binary.BigEndian.PutUint64(k[13:], a.hi)
		binary.BigEndian.PutUint64(k[21:], a.lo)
		_ = pb.Set(k[:], nil, nil) // Set copies the key; it fails only on a committed batch
	}
	b.x.commit.Lock()
	defer b.x.commit.Unlock()
	for p, cp := range b.cps {
		have, err := b.x.Checkpoint(p)
		if err != nil {
			return err
		}
		_ = pb.Set(checkpointKey(p), have.merge(cp).encode(), nil)
	}
	if err := pb.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("dedup: commit %d ids: %w", len(b.adds), err)
	}
	b.Reset()
	return nil
}

// Close releases what the batch holds of the index (the view of its lookups)
// without committing it. A closed batch can be Reset and used again.
func (b *Batch) Close() {
	if b.it != nil {
		_ = b.it.Close() // its errors were returned by the lookups
		b.it = nil
	}
}

// pebbleLogger passes Pebble's messages to slog: information at debug level,
// errors as warnings (Pebble recovers from them or returns them).
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log != nil {
		l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	if l.log != nil {
		l.log.Warn("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
