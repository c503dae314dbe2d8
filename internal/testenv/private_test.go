package testenv

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// The private services really start, stop and come back on their own ports.
func TestPrivateServicesStartStopAndRestart(t *testing.T) {
	for _, start := range []func(testing.TB) *Service{PrivateKafka, PrivateClickHouse} {
		s := start(t)
		if !answers(s.Addr) {
			t.Fatalf("%s: not answering after Start", s.Addr)
		}
		s.Kill()
		// The killed process is gone when Kill returns; its sockets close with it,
		// which a loaded machine may take a moment to show.
		deadline := time.Now().Add(10 * time.Second)
		for answers(s.Addr) {
			if time.Now().After(deadline) {
				out, _ := exec.Command("ss", "-ltnp").CombinedOutput()
				t.Fatalf("%s: still answering 10s after Kill; listening sockets:\n%s", s.Addr, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.Start()
		if !answers(s.Addr) {
			t.Fatalf("%s: not answering after restart", s.Addr)
		}
	}
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
