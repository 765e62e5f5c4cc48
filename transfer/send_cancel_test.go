package transfer

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/muxfer/muxfer/protocol"
)

// countingConn counts the data streams Send opens. If honourCtx is set,
// its OpenData refuses a context that is already cancelled, as a caller
// may expect of any Conn, instead of opening a stream the context will
// abort at once.
type countingConn struct {
	*testConn
	honourCtx bool
	opened    atomic.Int32
}

func (c *countingConn) OpenData(ctx context.Context, h protocol.DataHeader) (DataStream, error) {
	if c.honourCtx && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	c.opened.Add(1)
	return c.testConn.OpenData(ctx, h)
}

// cancelDuringFirstFile sends a big file and two small ones, one at a
// time, and cancels the context once the first bytes of the big one are out.
func cancelDuringFirstFile(t *testing.T, c Conn) (*Report, error) {
	t.Helper()
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"dir/a-big.bin": string(randomBytes(16<<20, 11)),
		"dir/b.txt":     "b",
		"dir/c.txt":     "c",
	})
	m := scan(t, filepath.Join(src, "dir"))
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	var once sync.Once
	opt := SendOptions{Parallel: 1, Observer: Observer{Wrote: func(int) { once.Do(cancel) }}}
	return Send(ctx, c, m, opt)
}

func TestSendStopsWhenCancelled(t *testing.T) {
	c, h := startPair(t, hubOptions{})
	rep, err := cancelDuringFirstFile(t, c)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error = %v, want context.Canceled", err)
	}
	if len(rep.Files) != 3 || rep.Failed() != 3 {
		t.Errorf("Report: %d files, %d failed; want 3 files all failed: %+v", len(rep.Files), rep.Failed(), rep.Files)
	}
	h.stop()
	if got := listTree(t, h.dir); slices.Contains(got, "dir/a-big.bin") {
		t.Errorf("the file being sent when Send was cancelled was stored: %q", got)
	}
}

func TestSendOpensNoStreamAfterCancel(t *testing.T) {
	tc, h := startPair(t, hubOptions{})
	c := &countingConn{testConn: tc}
	if _, err := cancelDuringFirstFile(t, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error = %v, want context.Canceled", err)
	}
	if n := c.opened.Load(); n != 1 {
		h.stop()
		// A stream opened with a cancelled context may be aborted before
		// its header is out; a receiver then sees a stream without one.
		t.Errorf("Send opened %d data streams; want 1, for the file in flight when it was cancelled (%d reached the receiver without a header)", n, h.badHeaders.Load())
	}
}

// A transfer the sender abandons must not hold the receiver: the hub keeps
// every unfinished transfer, up to a limit, until the client disconnects.
func TestSendCancelledLeavesReceiverWaitingForNothing(t *testing.T) {
	tc, h := startPair(t, hubOptions{})
	c := &countingConn{testConn: tc, honourCtx: true}
	if _, err := cancelDuringFirstFile(t, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error = %v, want context.Canceled", err)
	}
	if r := h.waitResult(t); r.Error == "" {
		t.Errorf("the cancelled stream was stored: %+v", r)
	}
	h.sync(t, tc) // the hub has handled every message sent before
	h.mu.Lock()
	var waiting []Stats
	for _, in := range h.transfers {
		waiting = append(waiting, in.Stats())
	}
	h.mu.Unlock()
	if len(waiting) != 0 {
		t.Errorf("after a cancelled Send the receiver still waits for %d transfer(s) (stats so far %+v)", len(waiting), waiting)
	}
}
