package dedup

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// clock is a settable time for the index.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var epoch = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func open(t testing.TB, dir string, horizon time.Duration, c *clock) *Index {
	t.Helper()
	x, err := Open(Options{Dir: dir, Horizon: horizon, Identity: "db/topic", Memory: 16 << 20, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func contains(t testing.TB, x *Index, part int, id ID) bool {
	t.Helper()
	b := x.NewBatch()
	defer b.Close()
	ok, err := b.Contains(part, id)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func add(t testing.TB, x *Index, part int, ids ...ID) {
	t.Helper()
	b := x.NewBatch()
	defer b.Close()
	for _, id := range ids {
		b.Add(part, id)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func randomID(rng *rand.Rand) ID {
	var id ID
	for i := range id {
		id[i] = byte(rng.Uint32())
	}
	return id
}

func TestIDOfAUUIDIsItsSixteenBytes(t *testing.T) {
	for range 100 {
		u := uuid.New()
		if got := IDOf(u.String()); got != ID(u) {
			t.Fatalf("IDOf(%s) = %x, want its bytes", u, got)
		}
	}
	u := uuid.MustParse("0192f0c4-7d1e-7a3b-9c2d-00000000002a")
	// Other spellings of the same bytes are other event ids in ClickHouse.
	for _, s := range []string{strings.ToUpper(u.String()), "{" + u.String() + "}", "urn:uuid:" + u.String(), strings.ReplaceAll(u.String(), "-", "")} {
		if IDOf(s) == ID(u) {
			t.Errorf("IDOf(%q) equals the id of %s", s, u)
		}
		if IDOf(s) != IDOf(s) {
			t.Errorf("IDOf(%q) is not stable", s)
		}
	}
	if IDOf("event-1") == IDOf("event-2") || IDOf("") == IDOf("event-1") {
		t.Error("distinct non-UUID ids share an ID")
	}
	if IDOf("0192f0c4-7d1e-7a3b-9c2d-00000000002g") == IDOf("0192f0c4-7d1e-7a3b-9c2d-00000000002f") {
		t.Error("a non-hex character was parsed as hex")
	}
}

// An id is found whatever was indexed after it, for the whole horizon, and no
// longer once a horizon and a bucket have passed.
func TestAnIDIsFoundForTheHorizonAndForgottenAfterIt(t *testing.T) {
	const horizon = 24 * time.Hour
	c := &clock{t: epoch}
	x := open(t, t.TempDir(), horizon, c)
	defer x.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	first := randomID(rng)
	add(t, x, 3, first)
	// 200,000 other ids over the next day, in batches, across partitions.
	for i := range 40 {
		c.add(horizon / 41)
		b := x.NewBatch()
		for j := range 5000 {
			b.Add(j%8, randomID(rng))
		}
		b.Advance(3, Checkpoint{Indexed: int64(i), Stored: int64(i)})
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	c.set(epoch.Add(horizon))
	if !contains(t, x, 3, first) {
		t.Error("an id indexed exactly one horizon ago was not found")
	}
	if contains(t, x, 2, first) {
		t.Error("an id of partition 3 was found in partition 2")
	}
	c.set(epoch.Add(horizon + x.BucketWidth() + time.Second))
	if contains(t, x, 3, first) {
		t.Error("an id indexed more than a horizon and a bucket ago was still found")
	}
	if x.BucketWidth() != horizon/Slices {
		t.Errorf("bucket width %s, want %s", x.BucketWidth(), horizon/Slices)
	}
}

func TestABatchFindsWhatItAddedBeforeItIsCommitted(t *testing.T) {
	c := &clock{t: epoch}
	x := open(t, t.TempDir(), time.Hour, c)
	defer x.Close()
	id := IDOf(uuid.NewString())
	b := x.NewBatch()
	defer b.Close()
	if ok, _ := b.Contains(0, id); ok {
		t.Fatal("an id never added was found")
	}
	b.Add(0, id)
	if ok, _ := b.Contains(0, id); !ok {
		t.Error("the batch did not find the id it just added")
	}
	if ok, _ := b.Contains(1, id); ok {
		t.Error("the batch found its partition 0 id in partition 1")
	}
	if contains(t, x, 0, id) {
		t.Error("another batch found an id that was not committed")
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if !contains(t, x, 0, id) {
		t.Error("another batch did not find a committed id")
	}
}

// Lookup answers a batch of queries as looking each up and adding it, one after
// the other, would: over a stream with copies within batches, across batches
// and across partitions, it agrees with a set of everything seen before.
func TestLookupAnswersAsLookingUpAndAddingInTurnWould(t *testing.T) {
	c := &clock{t: epoch}
	x := open(t, t.TempDir(), time.Hour, c)
	defer x.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	pool := make([]ID, 3000)
	for i := range pool {
		pool[i] = randomID(rng)
	}
	seen := map[pendingKey]bool{}
	b := x.NewBatch()
	defer b.Close()
	dups := 0
	for round := range 20 {
		b.Reset()
		if round%5 == 4 {
			// An id added outside Lookup, as the sink adds the records it
			// finds stored already, is a copy to later queries.
			id := pool[rng.IntN(len(pool))]
			b.Add(1, id)
			seen[pendingKey{1, id}] = true
		}
		qs := make([]Query, 500)
		want := make([]bool, len(qs))
		for i := range qs {
			qs[i] = Query{Part: rng.IntN(3), ID: pool[rng.IntN(len(pool))], Dup: i%2 == 0} // Dup is overwritten
			k := pendingKey{uint32(qs[i].Part), qs[i].ID}
			want[i] = seen[k]
			seen[k] = true
		}
		if err := b.Lookup(qs); err != nil {
			t.Fatal(err)
		}
		for i := range qs {
			if qs[i].Dup != want[i] {
				t.Fatalf("round %d, query %d (partition %d): Dup = %v, want %v", round, i, qs[i].Part, qs[i].Dup, want[i])
			}
			if want[i] {
				dups++
			}
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		c.add(time.Minute) // across buckets (15 minutes wide)
	}
	if dups < 1000 {
		t.Errorf("only %d copies in the stream: the test proves little", dups)
	}
}

func TestIDsAndCheckpointsSurviveReopening(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: epoch}
	x := open(t, dir, time.Hour, c)
	id := IDOf(uuid.NewString())
	b := x.NewBatch()
	b.Add(5, id)
	b.Advance(5, Checkpoint{Indexed: 1200, Stored: 1100})
	b.Advance(5, Checkpoint{Indexed: 1000, Stored: 1150}) // lower values never lower it
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b = x.NewBatch()
	b.Advance(5, Checkpoint{Indexed: 900, Stored: 900})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = open(t, dir, time.Hour, c)
	defer x.Close()
	if !contains(t, x, 5, id) {
		t.Error("the id was lost when the index was closed and opened again")
	}
	cp, err := x.Checkpoint(5)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Checkpoint{Indexed: 1200, Stored: 1150}); cp != want {
		t.Errorf("checkpoint %+v, want %+v", cp, want)
	}
	if cp, _ := x.Checkpoint(6); cp != None {
		t.Errorf("checkpoint of a partition never seen: %+v, want None", cp)
	}
}

func TestAnIndexOfOtherDataOrAnotherHorizonStartsEmpty(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: epoch}
	id := IDOf(uuid.NewString())
	for _, o := range []Options{
		{Identity: "otherdb/topic", Horizon: time.Hour},
		{Identity: "db/topic", Horizon: 2 * time.Hour},
	} {
		x := open(t, dir, time.Hour, c)
		b := x.NewBatch()
		b.Add(0, id)
		b.Advance(0, Checkpoint{Indexed: 7, Stored: 7})
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		x.Close()
		o.Dir, o.Now = dir, c.now
		y, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		if contains(t, y, 0, id) {
			t.Errorf("%+v: an id of the index built for db/topic and 1h was found", o)
		}
		if cp, _ := y.Checkpoint(0); cp != None {
			t.Errorf("%+v: checkpoint %+v kept, want None", o, cp)
		}
		y.Close()
	}
}

func TestForgetRemovesOnePartition(t *testing.T) {
	c := &clock{t: epoch}
	x := open(t, t.TempDir(), time.Hour, c)
	defer x.Close()
	id := IDOf(uuid.NewString())
	for _, p := range []int{1, 2} {
		b := x.NewBatch()
		b.Add(p, id)
		b.Advance(p, Checkpoint{Indexed: 10, Stored: 10})
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Forget(1); err != nil {
		t.Fatal(err)
	}
	if contains(t, x, 1, id) {
		t.Error("partition 1 still holds the id after Forget")
	}
	if cp, _ := x.Checkpoint(1); cp != None {
		t.Errorf("partition 1 kept its checkpoint %+v", cp)
	}
	if !contains(t, x, 2, id) {
		t.Error("Forget(1) removed partition 2's id")
	}
}

// AddAt dates an entry in the past, as the sink does with the ids it rebuilds
// from ClickHouse; an entry dated beyond the horizon is not added.
func TestAddAtDatesAnEntry(t *testing.T) {
	const horizon = time.Hour
	c := &clock{t: epoch}
	x := open(t, t.TempDir(), horizon, c)
	defer x.Close()
	old, recent, future := IDOf("old"), IDOf("recent"), IDOf("future")
	b := x.NewBatch()
	if b.AddAt(0, old, epoch.Add(-horizon-x.BucketWidth()-time.Second)) {
		t.Error("an id dated before the horizon was added")
	}
	if !b.AddAt(0, recent, epoch.Add(-horizon/2)) || !b.AddAt(0, future, epoch.Add(time.Hour)) {
		t.Fatal("an id dated within the horizon was not added")
	}
	b.Advance(0, Checkpoint{Indexed: 1, Stored: 1})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if contains(t, x, 0, old) {
		t.Error("the id dated before the horizon is in the index")
	}
	c.set(epoch.Add(horizon / 4))
	if !contains(t, x, 0, recent) {
		t.Error("the id dated half a horizon ago is not found a quarter horizon later")
	}
	c.set(epoch.Add(horizon/2 + x.BucketWidth() + time.Second))
	if contains(t, x, 0, recent) {
		t.Error("the id dated half a horizon ago outlived its horizon")
	}
	c.set(epoch.Add(horizon))
	if !contains(t, x, 0, future) {
		t.Error("an id dated in the future was not dated now: gone before a horizon passed")
	}
}

// Expire deletes old buckets: with the clock set back, so that lookups probe
// them again, the ids are gone.
func TestExpireDeletesBucketsOlderThanTheHorizon(t *testing.T) {
	const horizon = time.Hour
	c := &clock{t: epoch}
	x := open(t, t.TempDir(), horizon, c)
	defer x.Close()
	oldID, newID := IDOf("old"), IDOf("new")
	for _, p := range []int{0, 1} {
		b := x.NewBatch()
		b.Add(p, oldID)
		b.Advance(p, Checkpoint{Indexed: 1, Stored: 1})
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	c.set(epoch.Add(horizon))
	add(t, x, 0, newID)
	c.set(epoch.Add(horizon + x.BucketWidth() + time.Second))
	did, err := x.Expire()
	if err != nil {
		t.Fatal(err)
	}
	if !did {
		t.Error("Expire found nothing to expire")
	}
	if did, _ := x.Expire(); did {
		t.Error("Expire at the same time again found something to expire")
	}
	c.set(epoch)
	for _, p := range []int{0, 1} {
		if contains(t, x, p, oldID) {
			t.Errorf("partition %d: an expired id is still on disk", p)
		}
	}
	c.set(epoch.Add(horizon))
	if !contains(t, x, 0, newID) {
		t.Error("Expire deleted an id within the horizon")
	}
}

func TestADirectoryServesOneIndexAtATime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	c := &clock{t: epoch}
	x := open(t, dir, time.Hour, c)
	defer x.Close()
	if _, err := Open(Options{Dir: dir, Horizon: time.Hour, Now: c.now}); err == nil {
		t.Fatal("a second index opened the directory the first holds")
	}
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); err != nil {
		t.Errorf("no LOCK file: %v", err)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []Options{{Dir: t.TempDir(), Horizon: 0}, {Dir: "", Horizon: time.Hour}} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func ExampleIDOf() {
	fmt.Printf("%x\n", IDOf("0192f0c4-7d1e-7a3b-9c2d-00000000002a"))
	// Output: 0192f0c47d1e7a3b9c2d00000000002a
}

// What one Lookup added is a copy to the batch's later lookups, before the
// batch is committed: to a second Lookup and to Contains.
func TestIDsALookupAddedAreCopiesToTheBatchsLaterLookups(t *testing.T) {
	c := &clock{t: epoch}
	x := open(t, t.TempDir(), time.Hour, c)
	defer x.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	a, b2, fresh := randomID(rng), randomID(rng), randomID(rng)
	b := x.NewBatch()
	defer b.Close()
	first := []Query{{Part: 0, ID: a}, {Part: 2, ID: b2}}
	if err := b.Lookup(first); err != nil {
		t.Fatal(err)
	}
	if first[0].Dup || first[1].Dup {
		t.Fatalf("new ids answered as copies: %+v", first)
	}
	if ok, err := b.Contains(0, a); err != nil || !ok {
		t.Errorf("Contains after Lookup: %v, %v; want the id the Lookup added", ok, err)
	}
	if ok, _ := b.Contains(1, a); ok {
		t.Error("an id added in partition 0 found in partition 1")
	}
	second := []Query{{Part: 2, ID: b2}, {Part: 0, ID: fresh}, {Part: 0, ID: a}}
	if err := b.Lookup(second); err != nil {
		t.Fatal(err)
	}
	if !second[0].Dup || second[1].Dup || !second[2].Dup {
		t.Errorf("second Lookup: Dup %v %v %v, want true false true", second[0].Dup, second[1].Dup, second[2].Dup)
	}
	if n := b.Added(); n != 3 {
		t.Errorf("Added = %d, want the 3 distinct ids", n)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{{Part: 0, ID: a}, {Part: 2, ID: b2}, {Part: 0, ID: fresh}} {
		if !contains(t, x, q.Part, q.ID) {
			t.Errorf("partition %d: a committed id is not found", q.Part)
		}
	}
}
