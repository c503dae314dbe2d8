package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// Producer is what the collector writes records to: a kafka-go *Writer. Every
// message names its topic. WriteMessages must return nil only when every message
// was acknowledged, and kafka.WriteErrors when some failed.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Deps are the collector's collaborators.
type Deps struct {
	Schemas *schemas.Registry
	// Batched carries accepted events to the raw topic; records of concurrent
	// requests share its batches. Its batches must stay under the broker's
	// message.max.bytes (Run sets BatchBytes to --max-record-bytes).
	Batched Producer
	// Single writes one record per produce request. The collector uses it to find
	// out which records of a failed batch Kafka refuses on their own, and to write
	// their dead letters.
	Single   Producer
	Topics   stream.Topics
	Ready    map[string]obs.Check // /readyz checks, e.g. "kafka": stream.Ping(brokers)
	Log      *slog.Logger
	Metrics  prometheus.Registerer
	Gatherer prometheus.Gatherer // served on /metrics; nil: no /metrics
	Now      func() time.Time    // default time.Now
}

// Server is the collector's HTTP server. Endpoints of other packages mount on it
// with Handle.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	auth    *authenticator
	trusted []netip.Prefix
	json    map[string]*jsonSchema // by kind, newest raw version
	kinds   string                 // for error messages
	budget  *budget
	conns   *connLimit
	limits  *limiters // operator and relay tokens, by name; nil: no rate limit
	// installLimits are the buckets of installation credentials, by
	// installation; nil: no rate limit.
	installLimits *limiters
	m             *metrics
	draining      atomic.Bool
	writes        sync.WaitGroup // Kafka writes started by requests
	// life is the context of requests and of the Kafka writes they start: it
	// ends stream.DrainTimeout after shutdown began, so that what waits for a
	// Kafka that does not answer is answered 503 instead of holding shutdown.
	life    context.Context
	endLife context.CancelFunc
}

// New builds the server of cfg, which must be valid (Config.Validate): it
// parses the credentials (--tokens-file, --credential-secrets-file,
// --revoked-file), compiles the JSON form of every raw schema and registers the
// metrics. It fails when a credential file does not parse, a raw schema's
// default does not fit its field, or a metric cannot be registered.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Schemas == nil || deps.Batched == nil || deps.Single == nil || deps.Metrics == nil {
		return nil, errors.New("collector: Deps needs Schemas, Batched, Single and Metrics")
	}
	auth, err := newAuthenticator(cfg, deps.Log)
	if err != nil {
		return nil, err
	}
	trusted, err := cfg.trusted()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Log, now: deps.Now, mux: http.NewServeMux(),
		auth: auth, trusted: trusted, json: map[string]*jsonSchema{},
		budget: &budget{limit: int64(cfg.MaxInflight)}, conns: newConnLimit(cfg.MaxConnections)}
	s.life, s.endLife = context.WithCancel(context.Background())
	if cfg.RateLimit > 0 {
		s.limits = newLimiters(cfg.RateLimit, cfg.RateBurst, cfg.RateCredentials)
	}
	if cfg.InstallationRateLimit > 0 {
		s.installLimits = newLimiters(cfg.InstallationRateLimit, cfg.InstallationRateBurst, cfg.RateCredentials)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i, kind := range deps.Schemas.Kinds() {
		js, err := newJSONSchema(deps.Schemas.Latest(schemas.Raw, kind))
		if err != nil {
			return nil, err
		}
		s.json[kind] = js
		if i > 0 {
			s.kinds += ", "
		}
		s.kinds += kind
	}
	if s.m, err = newMetrics(deps.Metrics, s.budget, s.conns, s.limits); err != nil {
		return nil, err
	}

	checks := map[string]obs.Check{"shutdown": func(context.Context) error {
		if s.draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}}
	for k, v := range deps.Ready {
		checks[k] = v
	}
	gatherer := deps.Gatherer
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}
	ops := obs.Handler(gatherer, checks)
	for _, p := range []string{"GET /healthz", "GET /readyz"} {
		s.Handle(p, ops, false)
	}
	if deps.Gatherer != nil {
		s.Handle("GET /metrics", ops, false)
	}
	s.HandleFor("POST /v1/events", http.HandlerFunc(s.handleEvents), Access{Roles: []credential.Role{credential.Relay, credential.Installation}})
	s.HandleFor("POST /v1/installations/{installation}/credential", http.HandlerFunc(s.issueCredential), Access{Roles: []credential.Role{credential.Operator}})
	return s, nil
}

// Handle mounts h on pattern (net/http patterns: "PUT /v1/consent/{installation}").
// With auth, h runs only for requests with a valid credential of any role, and
// Credential(ctx) names it; HandleFor also restricts the roles. A credential over
// its rate (--rate-limit, --installation-rate-limit) gets 429 before h runs.
// Every request is counted in veil_collector_requests_total, and every request
// body is cut off when it arrives slower than --min-body-rate.
func (s *Server) Handle(pattern string, h http.Handler, auth bool) {
	if auth {
		h = s.authenticate(s.limitRate(h))
	}
	s.mux.Handle(pattern, h)
}

// Handler returns the root handler: the router with request metrics and the
// minimum body rate.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &reqInfo{}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		r = s.paceBody(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		s.mux.ServeHTTP(sw, r)
		s.m.requests.WithLabelValues(strconv.Itoa(sw.code), info.fleet).Inc()
	})
}

// Serve answers on ln until ctx is done, then shuts down: it stops accepting
// connections and fails /readyz, waits up to --drain-timeout for the requests in
// flight, then for the Kafka writes they started. Writes Kafka has not
// acknowledged stream.DrainTimeout after ctx ended are given up: their requests
// are answered 503 (the client retries the batch), and requests' contexts end.
// The caller closes the writers afterwards, which flushes them. At most
// --max-connections of ln's connections are open at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.endLife()
	stopWrites := context.AfterFunc(ctx, func() { time.AfterFunc(stream.DrainTimeout, s.endLife) })
	defer stopWrites()
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return s.life },
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		MaxHeaderBytes:    int(s.cfg.MaxHeaderBytes),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.ReadTimeout + s.cfg.ProduceTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnState:         s.conns.track,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	ln = s.conns.listen(ln)
	s.log.Info("collector listening", "addr", ln.Addr().String(), "topic", s.deps.Topics.Raw)
	shut := make(chan error, 1)
	go func() {
		<-ctx.Done()
		s.draining.Store(true)
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		if err != nil {
			err = fmt.Errorf("collector: drain requests: %w", err)
			_ = srv.Close()
		}
		shut <- err
	}()
	err := srv.Serve(ln)
	if !errors.Is(err, http.ErrServerClosed) {
		s.draining.Store(true)
		_ = srv.Close()
		s.writes.Wait()
		return fmt.Errorf("collector: serve: %w", err)
	}
	err = <-shut
	s.writes.Wait()
	s.log.Info("collector drained")
	return err
}

// Ready reports whether the server accepts work (false once shutdown began).
func (s *Server) Ready() bool { return !s.draining.Load() }

// InflightBytes is the current use of the in-flight byte budget.
func (s *Server) InflightBytes() int64 { return s.budget.used.Load() }

type infoKey struct{}

// reqInfo carries what the metrics middleware learns from inner handlers.
type reqInfo struct{ fleet string }

func infoOf(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(infoKey{}).(*reqInfo)
	return i
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
