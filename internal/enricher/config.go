package enricher

import (
	"flag"
	"fmt"
	"time"

	"github.com/veiltelemetry/veil/internal/pseudonym"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// Config of the enricher.
type Config struct {
	Kafka        stream.Kafka
	Group        string          // --group: consumer group, default veil-enricher
	Batch        stream.Batching // --batch-records (default 5000), --batch-wait (default 100ms)
	KeyDir       string          // --key-dir: pseudonym key directory shared by all instances, default .state/keys
	KeyPeriod    time.Duration   // --key-period: pseudonym epoch length, default 720h (30 days)
	KeyRetention int             // --key-retention: epochs whose keys are kept, default 3
	KeyRotate    time.Duration   // --key-rotate-every: how often run rotates the keys, default 1h
	GeoIP        string          // --geoip: MMDB file (GeoLite2/DB-IP country or city); empty: no IP geolocation
	Catalog      string          // --service-catalog: the service catalog file (hosted content, campaigns); empty: keep no catalog id
	CatalogEvery time.Duration   // --service-catalog-reload: how often the catalog file is checked for changes, default 10s
	MaxAge       time.Duration   // --max-event-age: oldest event time accepted, relative to the raw record's arrival, default 168h
	MetricsAddr  string          // --metrics-addr: /metrics, /healthz, /readyz; default 127.0.0.1:9102, empty disables
}

// Register adds the flags to fs with their defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	c.Kafka.Register(fs)
	fs.StringVar(&c.Group, "group", "veil-enricher", "Kafka consumer group")
	fs.IntVar(&c.Batch.MaxRecords, "batch-records", 5000, "records per batch")
	fs.DurationVar(&c.Batch.MaxWait, "batch-wait", 100*time.Millisecond, "how long a batch waits to fill after its first record")
	fs.DurationVar(&c.Batch.Drain, "drain-timeout", stream.DrainTimeout, "after a signal, how long the batch in hand may take to finish (no retries); what does not finish stays uncommitted and is processed again by the next run")
	fs.StringVar(&c.KeyDir, "key-dir", ".state/keys", "directory of pseudonym keys, shared by every enricher instance")
	fs.DurationVar(&c.KeyPeriod, "key-period", pseudonym.DefaultPeriod, "length of a pseudonym key epoch")
	fs.IntVar(&c.KeyRetention, "key-retention", pseudonym.DefaultRetention, "epochs whose pseudonym keys are kept, the current one included; older keys are destroyed")
	fs.DurationVar(&c.KeyRotate, "key-rotate-every", time.Hour, "how often 'enricher run' makes the next pseudonym key and destroys the keys past the retention")
	fs.StringVar(&c.GeoIP, "geoip", "", "MMDB file for IP geolocation (GeoLite2/DB-IP country or city); empty: none")
	fs.StringVar(&c.Catalog, "service-catalog", "", "service catalog file: the hosted content and campaigns whose ids may be kept (scripts/demo uses internal/catalog/demo.json); empty: no catalog id is kept")
	fs.DurationVar(&c.CatalogEvery, "service-catalog-reload", 10*time.Second, "how often the service catalog file is checked for changes")
	fs.DurationVar(&c.MaxAge, "max-event-age", schemas.DefaultMaxAge, "events older than this when they reached the raw topic are dead-lettered")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "127.0.0.1:9102", "address of /metrics, /healthz and /readyz; empty disables")
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if err := stream.ValidateConsumer(&c.Kafka, c.Group, c.Batch); err != nil {
		return err
	}
	switch {
	case c.KeyDir == "":
		return fmt.Errorf("--key-dir must not be empty")
	case c.KeyPeriod < time.Hour:
		return fmt.Errorf("--key-period: at least 1h, got %s", c.KeyPeriod)
	case c.KeyRetention < 1:
		return fmt.Errorf("--key-retention: at least 1, got %d", c.KeyRetention)
	case c.KeyRotate <= 0 || c.KeyRotate > c.KeyPeriod:
		return fmt.Errorf("--key-rotate-every: positive and at most --key-period (%s), got %s", c.KeyPeriod, c.KeyRotate)
	case c.CatalogEvery <= 0:
		return fmt.Errorf("--service-catalog-reload: must be positive, got %s", c.CatalogEvery)
	case c.MaxAge < time.Hour:
		return fmt.Errorf("--max-event-age: at least 1h, got %s", c.MaxAge)
	}
	return nil
}
