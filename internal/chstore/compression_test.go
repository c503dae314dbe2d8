package chstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/schemas"
)

// Every compression the sink offers must carry a block to the server intact.
func TestInsertWithEachCompressionStoresTheSameRows(t *testing.T) {
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Hour)
	for _, comp := range []string{"lz4", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			st := freshStoreWith(t, "veil_comp_"+comp, chstore.Options{Compression: comp})
			tb, _ := st.Table("playback")
			rows := chstore.NewRows(tb)
			const n = 5000
			for i := range n {
				// Long, repetitive strings: a codec that mangled blocks would show.
				over := map[string]string{"event_id": fmt.Sprintf("ev-%05d", i), "platform": strings.Repeat("p", i%300)}
				if err := rows.Append(playbackRecord(tb, at, i, over), 0, int64(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Insert(ctx, rows); err != nil {
				t.Fatal(err)
			}
			var count, chars uint64
			var minID, maxID string
			q := "SELECT count(), sum(length(platform)), min(event_id), max(event_id) FROM " + st.Database() + ".playback"
			if err := st.Conn().QueryRow(ctx, q).Scan(&count, &chars, &minID, &maxID); err != nil {
				t.Fatal(err)
			}
			var wantChars uint64
			for i := range n {
				wantChars += uint64(i % 300)
			}
			if count != n || chars != wantChars || minID != "ev-00000" || maxID != fmt.Sprintf("ev-%05d", n-1) {
				t.Errorf("stored count %d, platform chars %d, ids %s..%s; want %d, %d, ev-00000..ev-%05d", count, chars, minID, maxID, n, wantChars, n-1)
			}
		})
	}
}

func TestOpenRejectsAnUnknownCompression(t *testing.T) {
	_, err := chstore.Open(context.Background(), chstore.Options{Addr: "127.0.0.1:1", Compression: "brotli"}, schemas.MustLoad())
	if err == nil || !strings.Contains(err.Error(), `"brotli"`) {
		t.Fatalf("Open with compression brotli: %v, want an error naming it", err)
	}
}
