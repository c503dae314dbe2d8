package testenv

import (
	"net"
	"sync"
	"testing"
)

// ClosedAddr returns a loopback address nothing listens on: connecting to it is
// refused at once, as when a service is down.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	return FreeAddr(t)
}

// SilentAddr returns the address of a listener that accepts connections and
// never answers, as a service that hangs (or a network that drops the replies)
// does: every request waits for its timeout. It closes when the test ends.
func SilentAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
