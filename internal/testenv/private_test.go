package testenv

import (
	"net"
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
		if answers(s.Addr) {
			t.Fatalf("%s: still answering after Kill", s.Addr)
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
