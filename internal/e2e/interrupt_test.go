package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// These tests run the built binaries against services that are unreachable —
// an address that refuses connections (the service is down) and one that
// accepts them and never answers (it hangs) — and send them SIGINT. They need
// no Kafka and no ClickHouse. The bounds on how long a process may take to exit
// are liveness checks, far above what a working shutdown takes (a couple of
// seconds) and far below the retries and timeouts that used to hold it.

// exitBound is how long a process may take to exit by itself or after a signal.
const exitBound = 20 * time.Second

// proc is a binary the test started, with its output.
type proc struct {
	t              *testing.T
	name           string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

// syncBuffer is a bytes.Buffer the process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProc starts a binary with args and an environment without VEIL_*
// variables, so that only the command line configures it.
func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: bin + " " + strings.Join(args, " "), cmd: exec.Command(binary(t, bin), args...),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VEIL_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s\nstdout:\n%s\nstderr:\n%s", p.name, p.stdout, p.stderr)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitOutput waits until stdout or stderr holds s, failing if the process
// exits first.
func (p *proc) waitOutput(s string) {
	p.t.Helper()
	deadline := time.Now().Add(exitBound)
	for !strings.Contains(p.stdout.String()+p.stderr.String(), s) {
		if p.exited() {
			p.t.Fatalf("exited with code %d before writing %q", p.code, s)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q in the output within %s", s, exitBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig, failing if the process is gone already.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("exited with code %d before %v", p.code, sig)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// exitCode waits for the process to exit and returns its code.
func (p *proc) exitCode(after string) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(exitBound):
		p.t.Fatalf("still running %s after %s", exitBound, after)
		return -1
	}
}

// interruptCase is a subcommand that talks to services, and what it does when
// they are unreachable.
type interruptCase struct {
	name string
	// args runs the command against Kafka at kafka and ClickHouse at ch.
	args func(t *testing.T, kafka, ch string) (bin string, args []string)
	// failsAtStart: while the services refuse connections, the command exits
	// by itself at start with an error naming the refusal.
	failsAtStart bool
	// ready is a line the command writes while it retries a refused service,
	// before the signal is sent; "" waits a moment instead.
	ready string
	// code is the exit code after SIGINT, and out a regular expression the
	// output must match then (the summary or the error).
	code int
	out  string
}

var interruptCases = []interruptCase{{
	name: "producer simulate",
	args: func(_ *testing.T, k, _ string) (string, []string) {
		return "producer", []string{"simulate", "--brokers", k, "--count", "100000", "--workers", "2", "--chunk", "500"}
	},
	ready: "batch failed; retrying",
	code:  1,
	out:   `(?s)summary sent=0 failed=[1-9]\d*.*simulate interrupted.*interrupted by SIGINT: 0 events acknowledged, [1-9]\d* not acknowledged, \d+ of --count 100000 never sent`,
}, {
	name: "producer simulate --create-topics",
	args: func(_ *testing.T, k, _ string) (string, []string) {
		return "producer", []string{"simulate", "--brokers", k, "--create-topics"}
	},
	failsAtStart: true,
	code:         1,
	out:          `(?s)summary sent=0 failed=0.*interrupted by SIGINT before sending anything`,
}, {
	name: "producer serve",
	args: func(t *testing.T, k, _ string) (string, []string) {
		return "producer", []string{"serve", "--brokers", k, "--listen", testenv.FreeAddr(t), "--tokens-file", testenv.File(t, "tokens", "fleet:relay:0123456789abcdef\n")}
	},
	failsAtStart: true, // it follows the consent topic from the start
	code:         0,    // nothing in flight: drained cleanly
	out:          `collector drained`,
}, {
	name: "producer loadgen",
	args: func(t *testing.T, k, _ string) (string, []string) {
		return "producer", []string{"loadgen", "--url", "http://" + k, "--token-file", testenv.File(t, "token", "0123456789abcdef\n"), "--duration", "10m",
			"--clients", "2", "--batch", "10", "--pool", "1", "--timeout", "10m"}
	},
	ready: "loadgen: ",
	code:  1,
	out:   `(?s)summary accepted_per_s=0 .*loadgen interrupted.*interrupted by SIGINT`,
}, {
	name: "enricher run",
	args: func(t *testing.T, k, _ string) (string, []string) {
		return "enricher", []string{"run", "--brokers", k, "--metrics-addr", "", "--key-dir", t.TempDir()}
	},
	failsAtStart: true,
	code:         1,
	out:          `run interrupted.*interrupted by SIGINT before consuming anything`,
}, {
	name: "enricher run --create-topics",
	args: func(t *testing.T, k, _ string) (string, []string) {
		return "enricher", []string{"run", "--brokers", k, "--metrics-addr", "", "--key-dir", t.TempDir(), "--create-topics"}
	},
	failsAtStart: true,
	code:         1,
	out:          `run interrupted`,
}, {
	name: "enricher replay-deadletter",
	args: func(_ *testing.T, k, _ string) (string, []string) {
		return "enricher", []string{"replay-deadletter", "--brokers", k}
	},
	failsAtStart: true,
	code:         1,
	out:          `(?s)dead letters read=0 replayed=0 skipped=0.*replay-deadletter interrupted`,
}, {
	name: "sink run",
	args: func(t *testing.T, k, ch string) (string, []string) {
		return "sink", []string{"run", "--brokers", k, "--clickhouse-addr", ch, "--metrics-addr", "", "--dedup-dir", t.TempDir()}
	},
	failsAtStart: true,
	code:         1,
	out:          `run interrupted.*interrupted by SIGINT`,
}, {
	name: "sink migrate",
	args: func(_ *testing.T, _, ch string) (string, []string) {
		return "sink", []string{"migrate", "--clickhouse-addr", ch}
	},
	failsAtStart: true,
	code:         1,
	out:          `migrate interrupted.*interrupted by SIGINT`,
}, {
	name: "sink retention",
	args: func(_ *testing.T, _, ch string) (string, []string) {
		return "sink", []string{"retention", "--months", "3", "--clickhouse-addr", ch}
	},
	failsAtStart: true,
	code:         1,
	out:          `retention interrupted.*interrupted by SIGINT`,
}}

// Every subcommand that talks to a service stops on SIGINT while its services
// are down or hang, says what was left undone, and exits non-zero when
// something was; or, when the services refuse connections at start, fails by
// itself with an error naming the address.
func TestSubcommandsStopOnSIGINTWhileServicesAreUnreachable(t *testing.T) {
	for _, tc := range interruptCases {
		t.Run(tc.name+"/refused", func(t *testing.T) {
			t.Parallel()
			addr := testenv.ClosedAddr(t)
			bin, args := tc.args(t, addr, addr)
			p := startProc(t, bin, args...)
			if tc.failsAtStart {
				if code := p.exitCode("start"); code == 0 || !strings.Contains(p.stderr.String(), addr) {
					t.Errorf("exit code %d; want a failure naming the unreachable %s", code, addr)
				}
				return
			}
			p.waitOutput(tc.ready)
			interruptAndCheck(t, p, tc)
		})
		t.Run(tc.name+"/silent", func(t *testing.T) {
			t.Parallel()
			addr := testenv.SilentAddr(t)
			bin, args := tc.args(t, addr, addr)
			p := startProc(t, bin, args...)
			time.Sleep(time.Second) // connecting, or waiting for an answer
			if tc.name == "producer serve" {
				p.waitOutput("collector listening")
			}
			interruptAndCheck(t, p, tc)
		})
	}
}

func interruptAndCheck(t *testing.T, p *proc, tc interruptCase) {
	t.Helper()
	p.signal(syscall.SIGINT)
	code := p.exitCode("SIGINT")
	if code != tc.code {
		t.Errorf("exit code %d after SIGINT, want %d", code, tc.code)
	}
	if out := p.stdout.String() + p.stderr.String(); !regexp.MustCompile(tc.out).MatchString(out) {
		t.Errorf("output does not match %q", tc.out)
	}
}

// The sink with ClickHouse up and Kafka down waits to join its consumer group;
// SIGINT stops it, and since it held nothing, it exits 0. Needs ClickHouse.
func TestSinkWaitingForKafkaStopsOnSIGINT(t *testing.T) {
	ch := testenv.ClickHouse(t)
	db := testenv.Unique("veil_sigint")
	dropDatabaseAtEnd(t, ch, db)
	for name, kafka := range map[string]string{"refused": testenv.ClosedAddr(t), "silent": testenv.SilentAddr(t)} {
		t.Run(name, func(t *testing.T) {
			sinkCH := ch
			sinkCH.Database = db
			p := startProc(t, "sink", append(append([]string{"run", "--brokers", kafka}, testenv.ClickHouseArgs(sinkCH)...), "--metrics-addr", "", "--dedup-dir", t.TempDir())...)
			p.waitOutput("sink consuming")
			time.Sleep(500 * time.Millisecond) // joining the group
			p.signal(syscall.SIGINT)
			if code := p.exitCode("SIGINT"); code != 0 {
				t.Errorf("exit code %d, want 0: the sink held no records", code)
			}
		})
	}
}

// A collector whose Kafka hangs, under load: on SIGINT it answers the requests
// waiting for Kafka 503 and exits; the load generator, interrupted in turn,
// prints its report with those 503s and exits non-zero.
func TestCollectorUnderLoadWithKafkaHangingStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	addr := testenv.FreeAddr(t)
	const token = "0123456789abcdef"
	serve := startProc(t, "producer", "serve", "--brokers", testenv.SilentAddr(t), "--listen", addr, "--tokens-file", testenv.File(t, "tokens", "load:relay:"+token+"\n"))
	serve.waitOutput("collector listening")
	load := startProc(t, "producer", "loadgen", "--url", "http://"+addr, "--token-file", testenv.File(t, "token", token+"\n"), "--duration", "10m",
		"--clients", "1", "--batch", "10", "--pool", "1", "--timeout", "10m")
	waitInflight(t, "http://"+addr) // requests are waiting for Kafka
	serve.signal(syscall.SIGINT)
	if code := serve.exitCode("SIGINT"); code != 0 {
		t.Errorf("collector exit code %d, want 0: every request in flight was answered", code)
	}
	if !strings.Contains(serve.stderr.String(), "collector drained") {
		t.Error("the collector did not drain")
	}
	load.signal(syscall.SIGINT)
	if code := load.exitCode("SIGINT"); code != 1 {
		t.Errorf("loadgen exit code %d, want 1", code)
	}
	if out := load.stdout.String(); !regexp.MustCompile(`summary .*status=503=1`).MatchString(out) {
		t.Errorf("loadgen summary does not show its request answered 503 at shutdown:\n%s", out)
	}
}

// waitInflight waits until the collector at url holds request bytes.
func waitInflight(t *testing.T, url string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^veil_collector_inflight_bytes ([1-9][0-9.e+]*)$`)
	testenv.Eventually(t, exitBound, "request bytes in flight", func() (bool, string) {
		page, err := metricsOf(url)
		if err != nil {
			return false, err.Error()
		}
		return re.Match(page), "none"
	})
}

// metricsOf returns the /metrics page of the server at url ("http://host:port").
func metricsOf(url string) ([]byte, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// dropDatabaseAtEnd drops database db of the ClickHouse at admin when the test
// ends, reporting a failure to.
func dropDatabaseAtEnd(t *testing.T, admin chstore.Options, db string) {
	t.Cleanup(func() {
		st, err := chstore.Open(context.Background(), admin, schemas.MustLoad())
		if err != nil {
			t.Errorf("drop %s: %v", db, err)
			return
		}
		defer st.Close()
		if err := st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
	})
}

// A second signal exits at once while the first shutdown is blocked: here a
// collector waits (--drain-timeout 10m) for a client that sent half a body.
func TestSecondSignalExitsAtOnceWhileTheFirstShutdownIsBlocked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second syscall.Signal
		code   int
	}{{"SIGINT twice", syscall.SIGINT, 130}, {"SIGINT then SIGTERM", syscall.SIGTERM, 143}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := testenv.FreeAddr(t)
			const token = "0123456789abcdef"
			p := startProc(t, "producer", "serve", "--brokers", testenv.SilentAddr(t), "--listen", addr, "--tokens-file", testenv.File(t, "tokens", "slow:relay:"+token+"\n"),
				"--drain-timeout", "10m", "--read-timeout", "10m")
			p.waitOutput("collector listening")
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"events\": [", addr, token)
			waitInflight(t, "http://"+addr) // the handler is reading the body
			p.signal(syscall.SIGINT)
			p.waitOutput("a second signal exits at once")
			time.Sleep(200 * time.Millisecond)
			if p.exited() {
				t.Fatalf("the first shutdown did not wait for the request in flight (exit code %d)", p.code)
			}
			p.signal(tc.second)
			if code := p.exitCode("the second signal"); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if !strings.Contains(p.stderr.String(), "exiting at once without draining") {
				t.Error("no word of the forced exit on stderr")
			}
		})
	}
}

// The sink binary gives the Go runtime its soft memory limit (sink.MemoryLimit,
// larger with a larger batch) unless GOMEMLIMIT is set, which wins. Read from
// the runtime's own gauge on /metrics. Needs ClickHouse; Kafka stays down.
func TestSinkSetsItsMemoryLimitUnlessGOMEMLIMITIsSet(t *testing.T) {
	admin := testenv.ClickHouse(t)
	ch := admin
	ch.Database = testenv.Unique("veil_memlimit")
	dropDatabaseAtEnd(t, admin, ch.Database)
	re := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`)
	for _, tc := range []struct {
		name, env string
		args      []string
		want      float64
	}{
		{"default", "", nil, 160 << 20},
		{"larger batch", "", []string{"--batch-records", "50000"}, 160<<20 + 25000*4<<10},
		{"GOMEMLIMIT", "300MiB", nil, 300 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.env) // empty: unset for the runtime and for the sink
			addr := testenv.FreeAddr(t)
			args := append([]string{"run", "--brokers", testenv.ClosedAddr(t)}, testenv.ClickHouseArgs(ch)...)
			p := startProc(t, "sink", append(append(args, "--metrics-addr", addr, "--dedup-dir", t.TempDir()), tc.args...)...)
			p.waitOutput("sink consuming")
			var got string
			testenv.Eventually(t, exitBound, "the sink's go_gc_gomemlimit_bytes", func() (bool, string) {
				page, err := metricsOf("http://" + addr)
				if err != nil {
					return false, err.Error()
				}
				m := re.FindSubmatch(page)
				if m == nil {
					return false, "no gauge"
				}
				got = string(m[1])
				return true, ""
			})
			v, err := strconv.ParseFloat(got, 64)
			if err != nil || v != tc.want {
				t.Errorf("go_gc_gomemlimit_bytes = %s, want %.0f (%d MiB)", got, tc.want, int64(tc.want)>>20)
			}
			p.signal(syscall.SIGINT)
			if code := p.exitCode("SIGINT"); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
		})
	}
}
