package client

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/muxfer/muxfer/internal/route"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Files a client sends to another, and its direct messages, go end to
// end. The sender (the caller) asks the hub for a channel to the
// recipient's name (hub/channel.go); on it the two run a session of their
// own (mux.Call, mux.Answer): TLS 1.3 between their identities, then the
// same offers, data streams and results as an upload to a hub, with the
// recipient in the hub's place (inlink.go), and direct messages as chat.
// The hub copies bytes it cannot read.
//
// The caller checks the recipient's identity in that TLS handshake: the
// one pinned for the name, or else the one the hub lists for it (which
// the session then pins). The recipient checks that the caller proved the
// identity the hub named, and the session checks that one against its
// pins, as it does for everything from a name.
//
// A client without an identity of its own (Config.Identity) uses a
// throwaway one on its links: what it sends is still encrypted end to
// end, but nobody can tell it from a hub that poses as it.

// linkIdle is how long an unused link to a name stays open: a
// conversation or a series of sends pays for one handshake.
const linkIdle = 5 * time.Minute

// outLink is a link this client opened, to send files and messages.
type outLink struct {
	c        *Client
	key      string // the name asked for, lower-cased: its key in Client.links
	s        *mux.Session
	stop     context.CancelFunc // ends the channel's stream
	peer     string             // the name the hub gave the other end
	identity string             // the identity it proved, in hex; "" if it proved none to the hub
	subs     route.Table
	done     chan struct{} // closed when the link has ended

	// Guarded by c.mu.
	users int         // sends and messages using it now
	idle  *time.Timer // retires it once unused for linkIdle
}

// link returns an open link to the client called to, opening one if
// there is none: one that proves the identity want (hex), if given. The
// caller must release it. Links to different names open at once; two
// sends to one name wait for one link.
func (c *Client) link(ctx context.Context, to, want string) (*outLink, error) {
	key := strings.ToLower(to)
	for {
		c.mu.Lock()
		if c.links == nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: the client is closing", transfer.ErrConnectionLost)
		}
		if l := c.links[key]; l != nil {
			if !isDone(l.done) && (want == "" || want == l.identity) {
				l.users++
				if l.idle != nil {
					l.idle.Stop()
				}
				c.mu.Unlock()
				return l, nil
			}
			// Ended, or pinned since to another key: not to be used.
			delete(c.links, key)
			defer l.close()
		}
		if wait, busy := c.calling[key]; busy {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		c.calling[key] = done
		c.mu.Unlock()
		l, err := c.call(ctx, to, want)
		c.mu.Lock()
		delete(c.calling, key)
		close(done)
		switch {
		case err != nil:
			c.mu.Unlock()
			if isDone(c.sess.Done()) {
				err = fmt.Errorf("%w: %w", transfer.ErrConnectionLost, err)
			}
			return nil, err
		case c.links == nil: // the client is closing
			c.mu.Unlock()
			l.close()
			return nil, fmt.Errorf("%w: the client is closing", transfer.ErrConnectionLost)
		}
		l.key, l.users = key, 1
		c.links[key] = l
		c.linkWG.Go(l.read) // under mu, so that Close waits for it
		c.mu.Unlock()
		return l, nil
	}
}

// release ends one use of l; unused, it is closed after linkIdle.
func (c *Client) release(l *outLink) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.users--; l.users > 0 {
		return
	}
	if c.links == nil { // closing: Close closed it
		return
	}
	if l.idle == nil {
		l.idle = time.AfterFunc(linkIdle, func() { c.retire(l) })
	} else {
		l.idle.Reset(linkIdle)
	}
}

// retire closes l if it is still unused.
func (c *Client) retire(l *outLink) {
	c.mu.Lock()
	if l.users > 0 {
		c.mu.Unlock()
		return
	}
	if c.links[l.key] == l {
		delete(c.links, l.key)
	}
	c.mu.Unlock()
	l.close()
}

// call opens a channel to the client called to and an end-to-end session
// on it.
func (c *Client) call(ctx context.Context, to, want string) (*outLink, error) {
	// The stream lives as long as the link (lctx), but waiting for one of
	// the session's streams to be free ends with ctx.
	lctx, stop := context.WithCancel(context.Background())
	unhook := context.AfterFunc(ctx, stop)
	st, err := c.sess.OpenData(lctx, protocol.DataHeader{To: to, ToIdentity: want})
	if !unhook() {
		if err == nil {
			st.Close()
		}
		stop()
		return nil, ctx.Err()
	}
	if err != nil {
		stop()
		return nil, err
	}
	ch := st.Channel()
	fail := func(err error) (*outLink, error) {
		ch.Close()
		stop()
		return nil, err
	}
	r, err := readReply(ctx, ch, cmpDuration(c.mcfg.HandshakeTimeout, 10*time.Second))
	if err != nil {
		return fail(fmt.Errorf("channel to %s: %w", to, err))
	}
	if r.Error != "" {
		switch r.Code {
		case protocol.CodeAway:
			return fail(fmt.Errorf("%w: %s", transfer.ErrRecipientAway, r.Error))
		case protocol.CodeIdentity:
			return fail(&KeyChangedError{Name: to, Pinned: want, Now: r.ToIdentity})
		case protocol.CodeBusy:
			return fail(fmt.Errorf("%w: %s", transfer.ErrTryAgain, r.Error))
		}
		return fail(fmt.Errorf("channel to %s: %s", to, r.Error))
	}
	expect := want
	if expect == "" {
		expect = r.ToIdentity
	}
	var key ed25519.PublicKey
	if expect != "" {
		if key, err = hex.DecodeString(expect); err != nil || len(key) != ed25519.PublicKeySize {
			return fail(fmt.Errorf("channel to %s: the hub named a malformed identity", to))
		}
	}
	s, err := mux.Call(ctx, ch, c.peerConfig(), key)
	if err != nil {
		stop()
		var pk *mux.PeerKeyError
		if errors.As(err, &pk) {
			return nil, &KeyChangedError{Name: r.To, Pinned: expect, Now: hex.EncodeToString(pk.Got)}
		}
		return nil, fmt.Errorf("end-to-end session with %s: %w", r.To, err)
	}
	return &outLink{c: c, s: s, stop: stop, peer: r.To, identity: expect, done: make(chan struct{})}, nil
}

// readReply reads the hub's reply on a channel, within the handshake
// timeout and ctx.
func readReply(ctx context.Context, ch net.Conn, timeout time.Duration) (protocol.ChannelReply, error) {
	ch.SetReadDeadline(time.Now().Add(timeout))
	unhook := context.AfterFunc(ctx, func() { ch.SetReadDeadline(time.Unix(1, 0)) })
	r, err := protocol.ReadChannelReply(ch)
	if !unhook() {
		err = ctx.Err()
	}
	ch.SetReadDeadline(time.Time{})
	return r, err
}

// noClient is a direct message's refusal: nobody of that name is
// connected. It is a transfer.ErrRecipientAway.
type noClient struct{ name string }

func (e noClient) Error() string        { return fmt.Sprintf("no client named %q", e.name) }
func (e noClient) Is(target error) bool { return target == transfer.ErrRecipientAway }

// peerWindow is the receive window of each stream of an end-to-end
// session. A link's bytes cross two hops and three machines' worth of
// goroutines before a window update comes back the same way, so the
// round trip a window must cover is longer than a hub connection's: on
// loopback, with sender, hub and recipient sharing two cores, 256 MiB went
// at 156-169 MB/s with the hub connection's 512 KiB-1 MiB and 206-247 MB/s
// with 2-4 MiB (BenchmarkSendToPerson), against 237-287 MB/s through the
// hub's relay in the same runs. It is memory only while the recipient's
// disk is slower than the link: at most 2 MiB for each of a link's
// streams (4 by default).
const peerWindow = 2 << 20

// peerConfig is the configuration of this client's end-to-end sessions:
// the connection's timing (mux.Call and mux.Answer keep nothing else of
// it), this client's link identity and peerWindow.
func (c *Client) peerConfig() mux.Config {
	cfg := c.mcfg
	cfg.Identity, cfg.StreamWindow = c.self, peerWindow
	return cfg
}

// read routes the recipient's answers to the transfers they belong to,
// until the link ends.
func (l *outLink) read() {
	defer func() {
		l.s.Close()
		l.stop()
		close(l.done)
		l.c.mu.Lock()
		if l.c.links[l.key] == l {
			delete(l.c.links, l.key)
		}
		l.c.mu.Unlock()
	}()
	for {
		m, err := l.s.Recv()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case protocol.Accept:
			l.subs.Route(m.Transfer, m)
		case protocol.Reject:
			// Said by the recipient: the sender sees whose words they are,
			// and only the codes a recipient may give count (a shutdown
			// or an away is the hub's to say).
			if !strings.HasPrefix(strings.ToLower(m.Reason), strings.ToLower(l.peer)+" ") {
				m.Reason = l.peer + ": " + m.Reason
			}
			if m.Code != protocol.CodeBusy && m.Code != protocol.CodeNoRoom {
				m.Code = ""
			}
			l.subs.Route(m.Transfer, m)
		case protocol.Result:
			l.subs.Route(m.Transfer, m)
		case protocol.Error:
			return // the recipient ended the link
		}
	}
}

// close ends the link; read then returns.
func (l *outLink) close() {
	l.s.Close()
	l.stop()
}

// linkConn adapts an outLink to transfer.Conn.
type linkConn struct{ l *outLink }

func (x linkConn) Send(m protocol.Message) error { return x.l.s.Send(m) }
func (x linkConn) Done() <-chan struct{}         { return x.l.done }
func (x linkConn) OpenData(ctx context.Context, h protocol.DataHeader) (transfer.DataStream, error) {
	return x.l.s.OpenData(ctx, h)
}
func (x linkConn) Subscribe(id string) (<-chan protocol.Message, func()) {
	return x.l.subs.Subscribe(id)
}

// Ended says why the link ended (see transfer.Conn): with the connection
// to the hub up, the recipient left or its end broke.
func (x linkConn) Ended() error {
	if isDone(x.l.c.sess.Done()) {
		return nil
	}
	return fmt.Errorf("%w: %s left, or the link to them broke", transfer.ErrRecipientAway, x.l.peer)
}

// sendTo sends the files of m to the client opt.To, end to end.
func (c *Client) sendTo(ctx context.Context, m *transfer.Manifest, opt transfer.SendOptions) (*transfer.Report, error) {
	if strings.EqualFold(opt.To, c.Name()) {
		err := errors.New("cannot send files to yourself")
		return unsent(m, err), err
	}
	l, err := c.link(ctx, opt.To, opt.ToIdentity)
	if err != nil {
		return unsent(m, err), err
	}
	defer c.release(l)
	opt.To, opt.ToIdentity = "", ""
	opt.ResumeKey = peerResumeKey(opt.ResumeKey, l)
	rep, err := transfer.Send(ctx, linkConn{l}, m, opt)
	if errors.Is(err, transfer.ErrConnectionLost) && isDone(c.sess.Done()) {
		<-c.done
		err = fmt.Errorf("%w: %w", err, c.err)
	}
	return rep, err
}

// peerResumeKey derives, from the resume key of a send, the one for its
// files to the other end of l: its identity's own (or, if it proved none
// to the hub, its name's). A resume token is a capability at whoever
// receives it: the recipient must not learn the tokens of the same files
// sent to the hub or to anyone else, or it could take those transfers
// over.
func peerResumeKey(key []byte, l *outLink) []byte {
	if key == nil {
		return nil
	}
	who := "identity " + l.identity
	if l.identity == "" {
		who = "name " + strings.ToLower(l.peer)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("muxfer resume peer\x00" + who))
	return m.Sum(nil)
}

// isDone reports whether ch is closed.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// unsent reports every file of m as not sent because of err: to be sent
// again later if err may pass (the connection, a busy or absent
// recipient), and otherwise failed.
func unsent(m *transfer.Manifest, err error) *transfer.Report {
	rep := &transfer.Report{}
	notSent(rep, m, err)
	if errors.Is(err, transfer.ErrConnectionLost) || errors.Is(err, transfer.ErrTryAgain) || errors.Is(err, transfer.ErrRecipientAway) {
		return rep
	}
	for i := range rep.Files {
		rep.Files[i].Status = transfer.Failed
	}
	return rep
}
