package collector

import (
	"flag"
	"fmt"
	"math"
	"time"
)

// Limits keep slow and greedy clients from blocking the others (API.md,
// "Slow and greedy clients"). They are part of Config.
type Limits struct {
	MinBodyRate    Bytes         // --min-body-rate: bytes per second a body must keep up on average, default 16KiB; 0: only --body-timeout
	BodyTimeout    time.Duration // --body-timeout: how far a body may fall behind --min-body-rate, and its longest pause, default 10s (408 after)
	HeaderTimeout  time.Duration // --header-timeout: to read a request's headers, default 10s
	MaxHeaderBytes Bytes         // --max-header-bytes: a request's headers, default 64KiB (431 above)
	MaxConnections int           // --max-connections: connections open at once, default 1024; then the longest idle one is closed, or new ones wait
	RateLimit      float64       // --rate-limit: requests per second per operator or relay token name, default 1000 (429 above); 0: no limit
	RateBurst      int           // --rate-burst: requests such a token may send at once before --rate-limit applies, default 2000
	// --installation-rate-limit: requests per second per installation credential, default 10 (429 above); 0: no limit
	InstallationRateLimit float64
	InstallationRateBurst int // --installation-rate-burst: requests an installation may send at once, default 100
	RateCredentials       int // --rate-credentials: credentials whose rate is remembered at once, default 100000
}

func (l *Limits) register(fs *flag.FlagSet) {
	l.MinBodyRate, l.MaxHeaderBytes = 16<<10, 64<<10
	fs.Var(&l.MinBodyRate, "min-body-rate", "bytes per second a request body must arrive at on average; a slower body is cut off (408) once it is --body-timeout behind; 0: only pauses count")
	fs.DurationVar(&l.BodyTimeout, "body-timeout", 10*time.Second, "how far a request body may fall behind --min-body-rate, and the longest it may pause (408 after)")
	fs.DurationVar(&l.HeaderTimeout, "header-timeout", 10*time.Second, "time to read a request's headers")
	fs.Var(&l.MaxHeaderBytes, "max-header-bytes", "largest request headers (431 above)")
	fs.IntVar(&l.MaxConnections, "max-connections", 1024, "connections open at once; above it the longest idle keep-alive connection is closed, or new connections wait for one to close")
	fs.Float64Var(&l.RateLimit, "rate-limit", 1000, "requests per second each operator or relay token (by name) may send (429 with Retry-After above); 0: no limit")
	fs.IntVar(&l.RateBurst, "rate-burst", 2000, "requests an operator or relay token may send at once before --rate-limit applies")
	fs.Float64Var(&l.InstallationRateLimit, "installation-rate-limit", 10, "requests per second each installation credential may send (429 with Retry-After above); 0: no limit")
	fs.IntVar(&l.InstallationRateBurst, "installation-rate-burst", 100, "requests an installation credential may send at once before --installation-rate-limit applies")
	fs.IntVar(&l.RateCredentials, "rate-credentials", 100000, "credentials whose request rate is remembered at once; beyond it the least recently seen is forgotten")
}

func (l *Limits) validate() error {
	switch {
	case l.MinBodyRate < 0:
		return fmt.Errorf("--min-body-rate: must not be negative, got %d", l.MinBodyRate)
	case l.BodyTimeout <= 0:
		return fmt.Errorf("--body-timeout: must be positive, got %s", l.BodyTimeout)
	case l.HeaderTimeout <= 0:
		return fmt.Errorf("--header-timeout: must be positive, got %s", l.HeaderTimeout)
	case l.MaxHeaderBytes < 1<<10 || l.MaxHeaderBytes > 1<<30:
		return fmt.Errorf("--max-header-bytes: between 1KiB and 1GiB, got %d", l.MaxHeaderBytes)
	case l.MaxConnections <= 0:
		return fmt.Errorf("--max-connections: must be positive, got %d", l.MaxConnections)
	case l.RateLimit < 0 || math.IsNaN(l.RateLimit) || math.IsInf(l.RateLimit, 0):
		return fmt.Errorf("--rate-limit: requests per second, 0 or more, got %g", l.RateLimit)
	case l.RateLimit > 0 && l.RateBurst < 1:
		return fmt.Errorf("--rate-burst: at least 1, got %d", l.RateBurst)
	case l.InstallationRateLimit < 0 || math.IsNaN(l.InstallationRateLimit) || math.IsInf(l.InstallationRateLimit, 0):
		return fmt.Errorf("--installation-rate-limit: requests per second, 0 or more, got %g", l.InstallationRateLimit)
	case l.InstallationRateLimit > 0 && l.InstallationRateBurst < 1:
		return fmt.Errorf("--installation-rate-burst: at least 1, got %d", l.InstallationRateBurst)
	case (l.RateLimit > 0 || l.InstallationRateLimit > 0) && l.RateCredentials < 1:
		return fmt.Errorf("--rate-credentials: at least 1, got %d", l.RateCredentials)
	}
	return nil
}
