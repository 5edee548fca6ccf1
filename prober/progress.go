package prober

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// How often progress is shown: a terminal bar is redrawn often, a log
// gets a line every few seconds.
const (
	barInterval  = 200 * time.Millisecond
	lineInterval = 5 * time.Second
	barWidth     = 30
)

// startProgress shows the progress that counts reports on w until the
// returned stop is called, which shows it a last time. A nil w shows
// nothing.
func startProgress(w io.Writer, terminal bool, counts func() (done, total int)) (stop func()) {
	if w == nil {
		return func() {}
	}
	p := &progressView{w: w, terminal: terminal, counts: counts, start: time.Now()}
	interval := lineInterval
	if terminal {
		interval = barInterval
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.show(false)
			case <-quit:
				p.show(true)
				return
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}

// progressView renders progress lines.
type progressView struct {
	w        io.Writer
	terminal bool
	counts   func() (done, total int)
	start    time.Time
}

func (p *progressView) show(final bool) {
	done, total := p.counts()
	elapsed := time.Since(p.start)
	line := progressLine(done, total, elapsed, p.terminal)
	switch {
	case p.terminal && final:
		fmt.Fprintf(p.w, "\r%s\n", line)
	case p.terminal:
		fmt.Fprintf(p.w, "\r%s", line)
	default:
		fmt.Fprintf(p.w, "probe: %s\n", line)
	}
}

// progressLine formats done of total at the rate seen over elapsed, with
// the time left at that rate, as a bar for a terminal or plain words.
func progressLine(done, total int, elapsed time.Duration, bar bool) string {
	total = max(total, done, 1)
	frac := float64(done) / float64(total)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if !bar {
		return fmt.Sprintf("%d/%d (%.1f%%), %.0f/s, ETA %s", done, total, 100*frac, rate, eta)
	}
	filled := int(frac * barWidth)
	return fmt.Sprintf("[%s%s] %d/%d %5.1f%% %6.0f/s ETA %-8s", strings.Repeat("=", filled),
		strings.Repeat(" ", barWidth-filled), done, total, 100*frac, rate, eta)
}
