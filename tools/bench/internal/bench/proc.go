package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a process has to drain after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Proc is a binary the bench started. Its stderr goes to <name>.log and its
// stdout to <name>.out in the run's log directory; its usage is sampled from
// /proc every 250ms while it runs, and taken from its rusage when it exits.
type Proc struct {
	Name        string
	MetricsAddr string // host:port of its /metrics, "" if none
	PprofAddr   string // host:port of its /debug/pprof/, "" if none
	Started     time.Time
	LogPath     string
	OutPath     string

	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{}
	err    error // of Wait, once done is closed

	mu    sync.Mutex
	usage Usage
}

// procs starts binaries and stops them all at the end.
type procs struct {
	dir string   // log directory
	bin string   // directory of the binaries
	env []string // environment of every child
	log *slog.Logger
	// profile starts every binary with --pprof-addr on a free loopback port.
	profile bool

	mu   sync.Mutex
	list []*Proc
}

// childEnv is the bench's environment without VEIL_* variables (every setting of
// a child is on its command line, so nothing leaks in from the caller's shell),
// with GOMAXPROCS set when gomaxprocs > 0, plus extra.
func childEnv(environ []string, gomaxprocs int, extra ...string) []string {
	var env []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, "VEIL_") || (gomaxprocs > 0 && strings.HasPrefix(kv, "GOMAXPROCS=")) {
			continue
		}
		env = append(env, kv)
	}
	if gomaxprocs > 0 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", gomaxprocs))
	}
	return append(env, extra...)
}

// start runs bin/binary with args. It returns once the process is started; stop
// or the end of ctx ends it (SIGTERM, then SIGKILL after stopGrace).
func (ps *procs) start(ctx context.Context, name, binary string, env []string, args ...string) (*Proc, error) {
	path := filepath.Join(ps.bin, binary)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("bench: %s: %w (build the binaries with scripts/bench or go build -o %s/ ./producer ./enricher ./sink)", name, err, ps.bin)
	}
	p := &Proc{Name: name, LogPath: filepath.Join(ps.dir, name+".log"), OutPath: filepath.Join(ps.dir, name+".out"), done: make(chan struct{})}
	if ps.profile {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		p.PprofAddr = addr
		args = append(args[:len(args):len(args)], "--pprof-addr", addr)
	}
	for i, a := range args {
		if a == "--metrics-addr" && i+1 < len(args) {
			p.MetricsAddr = args[i+1]
		}
	}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return nil, fmt.Errorf("bench: %s log: %w", name, err)
	}
	outf, err := os.Create(p.OutPath)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: %s output: %w", name, err)
	}
	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, path, args...)
	cmd.Env = append(append([]string(nil), ps.env...), env...)
	cmd.Stdout, cmd.Stderr = outf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	// Should the bench itself be killed, the kernel ends its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	fmt.Fprintf(logf, "# %s %s\n", path, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		cancel()
		logf.Close()
		outf.Close()
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p.cmd, p.cancel, p.Started = cmd, cancel, time.Now()
	ps.log.Debug("started", "proc", name, "pid", cmd.Process.Pid, "args", strings.Join(args, " "))
	go func() {
		err := cmd.Wait()
		if st := cmd.ProcessState; st != nil {
			// Only CPU time is taken from rusage: its ru_maxrss also counts the
			// resident memory of the bench itself, whose address space the child
			// shared between fork and exec. The peak RSS is VmHWM, sampled.
			if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
				p.mu.Lock()
				p.usage.CPU = max(p.usage.CPU, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
				p.mu.Unlock()
			}
		}
		if err != nil && cmd.ProcessState != nil && cmd.ProcessState.Success() {
			err = nil // exit status 0 after our SIGTERM: Wait reports the cancellation only
		}
		logf.Close()
		outf.Close()
		p.err = err
		close(p.done)
	}()
	go p.sample()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// sample polls /proc every 250ms until the process exits.
func (p *Proc) sample() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		p.sampleOnce()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// sampleOnce reads the process's usage from /proc, if it still runs.
func (p *Proc) sampleOnce() {
	if u, err := readUsage(p.cmd.Process.Pid); err == nil {
		p.mu.Lock()
		p.usage.PeakRSS = max(p.usage.PeakRSS, u.PeakRSS)
		p.usage.CPU = max(p.usage.CPU, u.CPU)
		p.mu.Unlock()
	}
}

// PID of the process.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Usage sampled so far (final once the process exited).
func (p *Proc) Usage() Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usage
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Wait waits for the process to exit by itself; it returns its exit error.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop sends SIGTERM, waits for the process to drain and exit (SIGKILL after
// stopGrace), and returns its exit error; a process that exited by itself
// returns how it exited.
func (p *Proc) Stop() error {
	p.sampleOnce() // the peak so far, in case it came after the last tick
	p.cancel()
	<-p.done
	return p.err
}

// Output is what the process wrote to stdout.
func (p *Proc) Output() (string, error) {
	b, err := os.ReadFile(p.OutPath)
	return string(b), err
}

// Tail returns the last n lines of the log, for error messages.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exitedErr describes a process that ended while it should have been running.
func (p *Proc) exitedErr() error {
	_, err := p.Exited()
	return fmt.Errorf("%s exited early (%v); last lines of %s:\n%s", p.Name, err, p.LogPath, p.Tail(8))
}

// stopAll stops every process still running, newest first, and waits for them.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := append([]*Proc(nil), ps.list...)
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(list) - 1; i >= 0; i-- {
		p := list[i]
		if done, _ := p.Exited(); done {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(); err != nil && !isTermination(err) {
				ps.log.Warn("process did not stop cleanly", "proc", p.Name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// isTermination reports whether err is only the SIGTERM the bench sent.
func isTermination(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return true
		}
	}
	return false
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls http://addr/readyz until it answers 200, the process exits, or
// timeout passes.
func waitReady(ctx context.Context, p *Proc, addr string, timeout time.Duration) error {
	return poll(ctx, 100*time.Millisecond, timeout, p.Name+" ready at "+addr+"/readyz", func() (bool, error) {
		if done, _ := p.Exited(); done {
			return false, p.exitedErr()
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// errTimeout is returned by poll when the condition did not hold in time.
var errTimeout = errors.New("timed out")

// poll calls cond every interval until it returns true or an error, ctx ends,
// or timeout passes.
func poll(ctx context.Context, interval, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("bench: waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: waiting for %s: %w after %s", what, errTimeout, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// levelOf matches the level of a slog line, text or JSON.
var levelOf = regexp.MustCompile(`^(?:time=\S+ level=|\{"time":"[^"]*","level":")(WARN|ERROR)\b`)

// logProblems counts the WARN and ERROR lines of the logs (slog text or JSON).
func logProblems(paths ...string) (warns, errs int) {
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if m := levelOf.FindSubmatch(line); m != nil {
				if string(m[1]) == "WARN" {
					warns++
				} else {
					errs++
				}
			}
		}
	}
	return warns, errs
}
