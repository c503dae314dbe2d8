package collector

import (
	"flag"
	"fmt"
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
}

func (l *Limits) register(fs *flag.FlagSet) {
	l.MinBodyRate, l.MaxHeaderBytes = 16<<10, 64<<10
	fs.Var(&l.MinBodyRate, "min-body-rate", "bytes per second a request body must arrive at on average; a slower body is cut off (408) once it is --body-timeout behind; 0: only pauses count")
	fs.DurationVar(&l.BodyTimeout, "body-timeout", 10*time.Second, "how far a request body may fall behind --min-body-rate, and the longest it may pause (408 after)")
	fs.DurationVar(&l.HeaderTimeout, "header-timeout", 10*time.Second, "time to read a request's headers")
	fs.Var(&l.MaxHeaderBytes, "max-header-bytes", "largest request headers (431 above)")
	fs.IntVar(&l.MaxConnections, "max-connections", 1024, "connections open at once; above it the longest idle keep-alive connection is closed, or new connections wait for one to close")
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
	}
	return nil
}
