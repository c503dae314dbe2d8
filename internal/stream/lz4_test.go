package stream

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// sample is compressible data larger than one 64 KiB block.
func sample(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"playback", "hevc", "1080p", "installation", "region", "bitrate", "aac"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	return b.Bytes()
}

func compressWith(t testing.TB, c compress.Codec, data []byte) []byte {
	var out bytes.Buffer
	w := c.NewWriter(&out)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func decompressWith(t testing.TB, c compress.Codec, frame []byte) []byte {
	r := c.NewReader(bytes.NewReader(frame))
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Once a binary asks for it, the process's LZ4 codec is ours (and only then:
// importing the package changes nothing); it writes 64 KiB-block frames (also
// from a pooled writer), which kafka-go's own codec reads, and reads kafka-go's
// 4 MiB frames.
func TestLZ4CodecWritesSmallBlocksAnyReaderReads(t *testing.T) {
	before := compress.Codecs[compress.Lz4]
	if _, ok := before.(*lz4Codec); ok {
		t.Fatal("the process's lz4 codec was replaced before anyone called UseLZ4Blocks64K")
	}
	t.Cleanup(func() { compress.Codecs[compress.Lz4] = before })
	UseLZ4Blocks64K()
	ours := compress.Lz4.Codec()
	if _, ok := ours.(*lz4Codec); !ok {
		t.Fatalf("kafka-go's lz4 codec is %T, want *lz4Codec", ours)
	}
	data := sample(300 << 10)
	for round := range 3 { // the second and third use pooled writers and readers
		frame := compressWith(t, ours, data)
		if len(frame) < 7 || frame[0] != 0x04 || frame[1] != 0x22 || frame[2] != 0x4d || frame[3] != 0x18 {
			t.Fatalf("round %d: not an LZ4 frame: % x", round, frame[:min(len(frame), 8)])
		}
		// Frame descriptor byte BD: bits 4-6 hold the block size, 4 = 64 KiB.
		if bs := frame[5] >> 4 & 7; bs != 4 {
			t.Errorf("round %d: block size code %d, want 4 (64 KiB)", round, bs)
		}
		if got := decompressWith(t, &compress.Lz4Codec, frame); !bytes.Equal(got, data) {
			t.Fatalf("round %d: kafka-go's codec read back %d bytes, want %d", round, len(got), len(data))
		}
		big := compressWith(t, &compress.Lz4Codec, data)
		if bs := big[5] >> 4 & 7; bs != 7 {
			t.Errorf("kafka-go's own codec writes block size code %d; the reason for ours (7, 4 MiB) is gone", bs)
		}
		if got := decompressWith(t, ours, big); !bytes.Equal(got, data) {
			t.Fatalf("round %d: read back %d bytes of kafka-go's frame, want %d", round, len(got), len(data))
		}
	}
	if lz4BlockSize != lz4.Block64Kb {
		t.Errorf("block size %d", lz4BlockSize)
	}
}
