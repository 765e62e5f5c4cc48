package hub

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// A channel joins a data stream that one client (the caller) opens to a
// stream the hub opens to another (the one called), so that the two can
// run an end-to-end session (mux.Call, mux.Answer) through the hub: files
// and direct messages that the hub passes on but cannot read. The hub
// checks who may call whom, tells the caller whom it reached
// (protocol.ChannelReply), and then copies bytes both ways until both
// have closed, or either side fails.
//
// A channel may be quiet for long (two people who chatted an hour ago):
// the hub reads it without a deadline, and the sessions' keepalives end
// it if a client goes away. It holds no large buffer while quiet (see
// pump).

// Bounds on channels.
const (
	// MaxChannels is how many channels one client may have open as the
	// caller, and MaxChannelsIn how many may be open to one client: each
	// holds one of its MaxStreams (or of the hub's streams to it).
	MaxChannels   = 16
	MaxChannelsIn = 32
	// MaxChannelsPerAddr and MaxChannelsTotal bound the channels open
	// from the clients of one address and from all: a quiet channel
	// holds its caller's data stream for as long as it likes, and these
	// keep channels to a quarter of the streams an address, and the hub,
	// may have open (hub.Config.MaxStreamsPerAddr, MaxStreamsTotal), so
	// that quiet channels cannot keep uploads out.
	MaxChannelsPerAddr = 32
	MaxChannelsTotal   = 256
)

// channelBudget counts the channels open by source address and in all.
type channelBudget struct {
	mu     sync.Mutex
	byAddr map[source]int
	total  int
}

// take counts one more channel from src, unless a bound is reached, and
// reports whether it did.
func (b *channelBudget) take(src source) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total >= MaxChannelsTotal || src.p.IsValid() && b.byAddr[src] >= MaxChannelsPerAddr {
		return false
	}
	if b.byAddr == nil {
		b.byAddr = map[source]int{}
	}
	b.total++
	if src.p.IsValid() {
		b.byAddr[src]++
	}
	return true
}

func (b *channelBudget) release(src source) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total--
	if src.p.IsValid() {
		if b.byAddr[src]--; b.byAddr[src] <= 0 {
			delete(b.byAddr, src)
		}
	}
}

// channel handles a data stream whose header h asks for a channel: it
// refuses it in its reply, or joins it to the client h names and copies
// until the channel ends. It runs on the stream's receiving goroutine.
func (p *peer) channel(st *mux.Stream, h protocol.DataHeader) {
	caller := st.Channel()
	defer caller.Close()
	refuse := func(text, code, identity string) {
		p.logf(slog.LevelInfo, "channel refused", "id", p.info.ID, "name", p.name(), "to", h.To, "reason", text)
		protocol.WriteChannelReply(caller, protocol.ChannelReply{Error: protocol.Clip(text, protocol.MaxReasonLen), Code: code, ToIdentity: identity})
	}
	to := p.h.byName(h.To)
	switch {
	case to == nil:
		refuse(fmt.Sprintf("nobody called %q is connected", protocol.Clip(h.To, MaxNameLen*4)), protocol.CodeAway, "")
		return
	case to == p:
		refuse("cannot open a channel to yourself", "", "")
		return
	case h.ToIdentity != "" && h.ToIdentity != to.info.Identity:
		refuse(fmt.Sprintf("%s's key is not the one you expect", to.name()), protocol.CodeIdentity, to.info.Identity)
		return
	case !p.offers.Allow():
		refuse("channels opened too fast: wait a moment", protocol.CodeBusy, "")
		return
	}
	if !p.channelsOut.take(MaxChannels) {
		refuse(fmt.Sprintf("you have %d channels open already", MaxChannels), protocol.CodeBusy, "")
		return
	}
	defer p.channelsOut.release()
	if !p.h.channels.take(p.src) {
		refuse(fmt.Sprintf("too many channels open from your address (%d) or on this hub (%d)", MaxChannelsPerAddr, MaxChannelsTotal), protocol.CodeBusy, "")
		return
	}
	defer p.h.channels.release(p.src)
	if !to.channelsIn.take(MaxChannelsIn) {
		refuse(fmt.Sprintf("%s has %d channels open already", to.name(), MaxChannelsIn), protocol.CodeBusy, "")
		return
	}
	defer to.channelsIn.release()
	callee, end, err := p.openChannel(to)
	if err != nil {
		refuse(fmt.Sprintf("%s could not be reached: %v", to.name(), err), protocol.CodeAway, "")
		return
	}
	defer end()
	defer callee.Close()
	err = protocol.WriteChannelReply(caller, protocol.ChannelReply{To: to.name(), ToID: to.info.ID, ToIdentity: to.info.Identity})
	if err != nil {
		return
	}
	p.logf(slog.LevelDebug, "channel open", "from", p.name(), "to", to.name())
	splice(caller, callee, p.touch, to.touch)
	p.logf(slog.LevelDebug, "channel closed", "from", p.name(), "to", to.name())
}

// openChannel opens the stream to the client called, with the header
// that names the caller. Opening it waits at most the I/O timeout for one
// of the hub's streams to that client to be free, and not past either
// client's leaving. Once open, the stream is bound to neither client's
// context, only to the two streams: when either leaves (a bye, say,
// right after its last bytes), splice still delivers what it read of
// them, then closes the other's.
// The caller runs end once it has closed the stream.
func (p *peer) openChannel(to *peer) (net.Conn, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	var opened atomic.Bool
	giveUp := func() {
		if !opened.Load() {
			cancel()
		}
	}
	timer := time.AfterFunc(p.h.stall, giveUp)
	unhookCaller := context.AfterFunc(p.ctx, giveUp)
	unhookCalled := context.AfterFunc(to.ctx, giveUp)
	st, err := to.sess.OpenData(ctx, protocol.DataHeader{From: p.name(), FromID: p.info.ID, FromIdentity: p.info.Identity})
	opened.Store(true)
	timer.Stop()
	unhookCaller()
	unhookCalled()
	if err != nil || ctx.Err() != nil {
		cancel()
		if err == nil {
			st.Close()
			err = context.Cause(ctx)
		}
		return nil, nil, err
	}
	return st.Channel(), cancel, nil
}

// splice copies a to b and b to a until both directions have ended, and
// each ends on its own: when its source ends, cleanly or not (its client
// closed its side, or left), what was read goes on and the destination's
// sending side is closed, so the other client reads the end after every
// byte; when its destination fails (that client left, or stopped reading
// for the I/O timeout), it stops reading its source. A client that leaves
// ends the other direction too, as its stream then fails. A client that
// never closes its side after the other's close cannot hold the channel
// (and with it the other client's leaving): yamux resets a stream whose
// close is not answered within the I/O timeout. aActive and bActive are
// called when bytes come from a and from b.
func splice(a, b net.Conn, aActive, bActive func()) {
	var wg sync.WaitGroup
	wg.Go(func() { pump(b, a, aActive) })
	pump(a, b, bActive)
	wg.Wait()
}

// pump copies src to dst until src ends, then closes dst's sending side;
// or until a write to dst fails, and then it stops reading src (its past
// read deadline ends a read waiting there). It reads into a small buffer
// while the channel is quiet and takes a large one from a pool only while
// a read fills the buffer it has, so that a quiet channel holds 2 KiB each
// way, not 64: a thousand clients each keeping two channels open would
// otherwise hold 256 MiB of idle buffers at the hub.
func pump(dst, src net.Conn, active func()) {
	var small [2 << 10]byte
	var big *[]byte
	defer func() {
		if big != nil {
			relayBufs.Put(big)
		}
	}()
	buf := small[:]
	for {
		n, err := src.Read(buf)
		if n > 0 {
			active()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.SetReadDeadline(time.Unix(1, 0))
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
		switch {
		case n == len(buf) && big == nil:
			big = relayBufs.Get().(*[]byte)
			buf = *big
		case n < len(buf) && big != nil:
			relayBufs.Put(big)
			big, buf = nil, small[:]
		}
	}
}

// channelCount counts a client's open channels, one way.
type channelCount struct{ n atomic.Int32 }

// take counts one more channel, unless limit are open.
func (c *channelCount) take(limit int) bool {
	if c.n.Add(1) > int32(limit) {
		c.n.Add(-1)
		return false
	}
	return true
}

func (c *channelCount) release() { c.n.Add(-1) }
