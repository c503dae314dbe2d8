package producer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/segmentio/kafka-go"
	"github.com/veiltelemetry/veil/internal/collector"
	"github.com/veiltelemetry/veil/internal/consent"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// ConsentAccess is who may read and set an installation's opt-outs: operators,
// and the installation's own credential. Relays, which post events for many
// installations, may not.
var ConsentAccess = collector.Access{Roles: []credential.Role{credential.Operator}, Owner: "installation"}

// ServeConfig is the configuration of `producer serve`: the collector's, plus
// what the privacy tab needs.
type ServeConfig struct {
	Collector collector.Config
	GeoIP     string // --geoip: MMDB file the privacy tab's example IP address is located with; default none
}

// Register adds the flags to fs.
func (c *ServeConfig) Register(fs *flag.FlagSet) {
	c.Collector.Register(fs)
	fs.StringVar(&c.GeoIP, "geoip", "", "MMDB file the privacy tab's example IP address is located with (the collector itself locates nothing); empty: the example shows no region for the IP")
}

// routes mounts the consent API (authenticated) and the privacy tab (public) on
// the collector's router.
func routes(s *collector.Server, api *consent.API, tab *privacytab.Tab) {
	// An installation's opt-outs are its own and its operators'.
	api.Register(func(p string, h http.Handler) { s.HandleFor(p, h, ConsentAccess) })
	ph := privacytab.Handler(tab)
	s.Handle("GET /privacy", ph, false)
	s.Handle("GET /privacy.json", ph, false)
}

// Validate names the first bad field.
func (c *ServeConfig) Validate() error { return c.Collector.Validate() }

// Serve runs `producer serve`: the collector, with the consent API and the
// privacy tab mounted on its router:
//
//	POST /v1/events                          relays, installations (their own events)  the collector (internal/collector)
//	POST /v1/installations/{inst}/credential operators                                issues installation credentials
//	GET|PUT /v1/consent/{inst}               operators, the installation itself        opt-outs (internal/consent)
//	GET /privacy, /privacy.json              public                                    the privacy tab (internal/privacytab)
//	GET /metrics, /healthz, /readyz          public                                    operations
//
// It follows the consent topic for the GETs while it serves, and returns when
// ctx is done and the collector has drained, or when either fails. The raw
// writers are flushed before it returns.
func Serve(ctx context.Context, cfg ServeConfig, log *slog.Logger, reg obs.Registry) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	sch, err := schemas.Load()
	if err != nil {
		return err
	}
	var opts privacytab.Options
	if cfg.GeoIP != "" {
		db, err := geo.OpenMMDB(cfg.GeoIP)
		if err != nil {
			return fmt.Errorf("serve: --geoip: %w", err)
		}
		opts.IPs = db
		defer db.Close()
	}
	// No demonstration key: the tab's example pseudonyms use a random key that
	// Build destroys, so the collector never holds a key of the enricher.
	tab, err := privacytab.Build(sch, opts)
	if err != nil {
		return err
	}
	kcfg := cfg.Collector.Kafka
	if err := kcfg.Ensure(ctx); err != nil {
		return err
	}
	cluster, err := kcfg.Cluster()
	if err != nil {
		return err
	}

	// The collector: raw events, and the dead letters of records Kafka refuses.
	batched, single, err := collector.Writers(cfg.Collector)
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, flush(batched, "raw writer"), flush(single, "single-record writer"))
	}()
	srv, err := collector.New(cfg.Collector, collector.Deps{
		Schemas: sch, Batched: batched, Single: single, Topics: kcfg.Topics,
		Ready: map[string]obs.Check{"kafka": stream.Ping(cluster)},
		Log:   log, Metrics: reg, Gatherer: reg,
	})
	if err != nil {
		return err
	}

	// The consent API: opt-outs written to the consent topic one record at a
	// time, read from the store that follows it.
	cw, err := stream.NewWriter(stream.WriterConfig{Cluster: cluster, Compression: kcfg.Compression, BatchSize: 1, BatchTimeout: time.Millisecond})
	if err != nil {
		return err
	}
	defer stream.Close(cw, "consent writer")
	store, loaded := consent.NewStore(), make(chan struct{})
	api := &consent.API{Writer: cw, Topic: kcfg.Topics.Consent, Store: store, Loaded: loaded, RetryAfter: cfg.Collector.RetryAfter, Log: log}
	routes(srv, api, tab)

	ln, err := net.Listen("tcp", cfg.Collector.Listen)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", cfg.Collector.Listen, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := consent.Follow(gctx, cluster, kcfg.Topics.Consent, store, log, loaded); err != nil && gctx.Err() == nil {
			return fmt.Errorf("serve: follow consent topic: %w", err)
		}
		return nil
	})
	g.Go(func() error { return srv.Serve(gctx, ln) })
	return g.Wait()
}

// flush closes a writer of the collector once it has drained, waiting at most
// stream.CloseTimeout: what it still holds then belongs to requests that were
// already answered 503.
func flush(w *kafka.Writer, name string) error {
	if err := stream.Close(w, name); err != nil {
		return fmt.Errorf("serve: flush: %w", err)
	}
	return nil
}
