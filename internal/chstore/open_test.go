package chstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// Open gives up when its context ends, also while a server that accepted the
// connection has not answered the handshake: the driver alone would wait out
// its dial timeout. No ClickHouse is needed: the server is one that never
// answers.
func TestOpenReturnsWhenItsContextEndsDuringTheHandshake(t *testing.T) {
	stop := errors.New("interrupted by test")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(200*time.Millisecond, func() { cancel(stop) })
	st, err := chstore.Open(ctx, chstore.Options{Addr: testenv.SilentAddr(t)}, schemas.MustLoad())
	if err == nil {
		st.Close()
		t.Fatal("Open succeeded against a server that never answers")
	}
	if !errors.Is(err, stop) {
		t.Errorf("Open = %v; want it to end with its context's cause, not with the driver's own timeout", err)
	}
}
