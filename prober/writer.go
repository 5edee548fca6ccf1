package prober

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Sync policy of a Writer: a killed run loses at most the lines written
// since the last sync, which the next run probes again.
const (
	syncInterval = time.Second
	syncLines    = 4096
)

// Writer appends observations to an observations file, one JSON line each.
// It is safe for concurrent use. It flushes and fsyncs every second or
// every 4096 lines, whichever comes first, and on Close.
type Writer struct {
	mu       sync.Mutex
	f        *os.File
	bw       *bufio.Writer
	now      func() time.Time
	lastSync time.Time
	pending  int
	closed   bool
}

// OpenWriter opens path for appending, creating it if needed. When the file
// ends in a torn line (a run killed mid-write), a newline is added first so
// the torn line stays one malformed line that readers skip, rather than
// spoiling the next observation.
func OpenWriter(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening observations %s: %w", path, err)
	}
	w := &Writer{f: f, bw: bufio.NewWriterSize(f, 64<<10), now: time.Now}
	w.lastSync = w.now()
	torn, err := endsTorn(f)
	if err == nil && torn {
		_, err = f.Write([]byte{'\n'})
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("opening observations %s: %w", path, err)
	}
	return w, nil
}

// endsTorn reports whether f is non-empty and its last byte is not a newline.
func endsTorn(f *os.File) (bool, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false, err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return last[0] != '\n', nil
}

// ErrClosed reports a write to a closed Writer.
var ErrClosed = errors.New("observations writer closed")

// Write appends o as one line.
func (w *Writer) Write(o Observation) error {
	line, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encoding observation: %w", err)
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if _, err := w.bw.Write(line); err != nil {
		return fmt.Errorf("writing observation: %w", err)
	}
	w.pending++
	if w.pending >= syncLines || w.now().Sub(w.lastSync) >= syncInterval {
		return w.syncLocked()
	}
	return nil
}

// Sync flushes buffered lines and fsyncs the file.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.syncLocked()
}

func (w *Writer) syncLocked() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flushing observations: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("syncing observations: %w", err)
	}
	w.pending = 0
	w.lastSync = w.now()
	return nil
}

// Close flushes, fsyncs and closes the file. It is safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return errors.Join(w.syncLocked(), w.f.Close())
}
