package producer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/veiltelemetry/veil/internal/collector"
	"github.com/veiltelemetry/veil/internal/consent"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/geo"
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

// Serve runs the collector with the endpoints of the other packages mounted on
// its router:
//
//	POST /v1/events                          relays, installations (their own events)  the collector (internal/collector)
//	POST /v1/installations/{inst}/credential operators                                issues installation credentials
//	GET|PUT /v1/consent/{inst}               operators, the installation itself        opt-outs (internal/consent)
//	GET /privacy, /privacy.json              public                                    the privacy tab (internal/privacytab)
//	GET /metrics, /healthz, /readyz          public                                    operations
//
// It follows the consent topic for the GETs while it serves, and returns when
// ctx is done and the collector has drained, or when either fails.
func Serve(ctx context.Context, cfg ServeConfig, log *slog.Logger, reg *prometheus.Registry) error {
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
	cluster, err := kcfg.Cluster()
	if err != nil {
		return err
	}
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: cluster, Compression: kcfg.Compression, BatchSize: 1, BatchTimeout: time.Millisecond})
	if err != nil {
		return err
	}
	defer stream.Close(w, "consent writer")

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	store, loaded := consent.NewStore(), make(chan struct{})
	api := &consent.API{Writer: w, Topic: kcfg.Topics.Consent, Store: store, Loaded: loaded,
		RetryAfter: cfg.Collector.RetryAfter, Log: log}
	mount := func(s *collector.Server) error {
		// Runs after the collector made sure the topics exist.
		g.Go(func() error {
			if err := consent.Follow(gctx, cluster, kcfg.Topics.Consent, store, log, loaded); err != nil {
				return fmt.Errorf("serve: follow consent topic: %w", err)
			}
			return nil
		})
		routes(s, api, tab)
		return nil
	}
	g.Go(func() error {
		defer stop() // the collector is done: stop following consent
		return collector.Run(gctx, cfg.Collector, log, reg, mount)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
