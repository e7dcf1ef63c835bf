package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// progress is a byte-count progress bar on stderr (bytes done, rate, time
// left), or nothing at all when stderr is not a terminal.
type progress struct {
	bar *progressbar.ProgressBar
}

func (c *cli) newProgress(what string, total int64) *progress {
	if !c.stderrTTY {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(c.stderr.(io.Writer)),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100e6),
	)}
}

// fileProgress is a progress bar over the size of the file at path (the
// data file a scan reads).
func (c *cli) fileProgress(what, path string) *progress {
	var size int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	return c.newProgress(what, size)
}

// set reports bytes done so far (and the total, which may change).
func (p *progress) set(done, total int64) {
	if p.bar == nil {
		return
	}
	if total > 0 && total != p.bar.GetMax64() {
		p.bar.ChangeMax64(total)
	}
	p.bar.Set64(done)
}

// callback adapts set to the library's progress signature (nil when off).
func (p *progress) callback() func(done, total int64) {
	if p.bar == nil {
		return nil
	}
	return p.set
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
