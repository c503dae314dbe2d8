package stream

import (
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// UseLZ4Blocks64K replaces kafka-go's LZ4 codec, for every writer and reader of
// the process, by one that writes frames of 64 KiB blocks, as the Java client
// does. kafka-go's writes 4 MiB blocks, so every batch being written, and every
// batch being read (the block size is in the frame header), holds a 4 MiB
// buffer: 32 MiB for a sink reading 8 partitions, more for a producer writing to
// many. The frames are standard LZ4 frames: any Kafka client reads them, and
// the codec reads frames of any block size.
//
// Each binary calls it first thing in main, before it makes any Kafka client;
// the codec table is process-wide, and kafka-go reads it without a lock.
func UseLZ4Blocks64K() { compress.Codecs[compress.Lz4] = &lz4Codec{} }

// lz4BlockSize is the block size of the frames lz4Codec writes.
const lz4BlockSize = lz4.Block64Kb

type lz4Codec struct{ readers, writers sync.Pool }

func (c *lz4Codec) Code() int8   { return int8(compress.Lz4) }
func (c *lz4Codec) Name() string { return compress.Lz4.String() }

func (c *lz4Codec) NewReader(r io.Reader) io.ReadCloser {
	z, _ := c.readers.Get().(*lz4.Reader)
	if z == nil {
		z = lz4.NewReader(r)
	} else {
		z.Reset(r)
	}
	return &lz4Reader{z, c}
}

func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := c.writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		// Only fails for an invalid option; these are constants.
		_ = z.Apply(lz4.BlockSizeOption(lz4BlockSize))
	} else {
		z.Reset(w)
	}
	return &lz4Writer{z, c}
}

type lz4Reader struct {
	*lz4.Reader
	c *lz4Codec
}

func (r *lz4Reader) Close() error {
	if z := r.Reader; z != nil {
		r.Reader = nil
		z.Reset(nil)
		r.c.readers.Put(z)
	}
	return nil
}

type lz4Writer struct {
	*lz4.Writer
	c *lz4Codec
}

func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	w.c.writers.Put(z)
	return err
}
