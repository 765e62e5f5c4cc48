package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// asker is a client that keeps every offer waiting for an answer, as the
// chat does for a person, and tells the test of each offer and of each
// withdrawn one.
type asker struct {
	*hubtest.Client
	inbox     string
	offers    chan protocol.Offer
	withdrawn chan string // the reason
	stored    atomic.Int64
}

func dialAsker(t *testing.T, addr, name string) *asker {
	t.Helper()
	return dialAskerWithin(t, addr, name, 0)
}

// dialAskerWithin is dialAsker with an offer timeout (0: the default).
func dialAskerWithin(t *testing.T, addr, name string, timeout time.Duration) *asker {
	t.Helper()
	a := &asker{inbox: filepath.Join(t.TempDir(), "inbox"),
		offers: make(chan protocol.Offer, 8), withdrawn: make(chan string, 8)}
	a.Client = hubtest.DialConfig(t, addr, client.Config{Name: name, Inbox: a.inbox, OfferTimeout: timeout,
		OnOffer: func(o protocol.Offer) client.Decision {
			a.offers <- o
			return client.Ask
		},
		OnWithdrawn: func(_ protocol.Offer, why string) { a.withdrawn <- why },
		OnProgress:  func(_ string, _, n int) { a.stored.Add(int64(n)) },
	})
	return a
}

// next returns the next offer the asker was made.
func (a *asker) next(t *testing.T) protocol.Offer {
	t.Helper()
	select {
	case o := <-a.offers:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no offer came")
		return protocol.Offer{}
	}
}

// uploadAsync runs c.Upload on a goroutine the test waits for.
func uploadAsync(t *testing.T, ctx context.Context, c *hubtest.Client, m *transfer.Manifest, opt transfer.SendOptions) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(wg.Wait)
	go func() {
		defer wg.Done()
		rep, err := c.Upload(ctx, m, opt)
		if err == nil && rep.Failed() > 0 {
			err = errors.New(rep.Files[0].Err)
		}
		done <- err
	}()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the upload did not end")
		return nil
	}
}

func TestOfferWaitsForTheRecipientsAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept bool
		want   string // in the sender's error; "" for success
	}{
		{"accepted", true, ""},
		{"declined", false, "bob: declined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{})
			bob := dialAsker(t, h.Addr, "bob")
			alice := hubtest.Dial(t, h.Addr, "alice")
			src := hubtest.Testdata(t, "../testdata")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m := scan(t, src)
			done := uploadAsync(t, ctx, alice, m, transfer.SendOptions{To: "bob"})
			o := bob.next(t)
			if w := bob.Waiting(); len(w) != 1 || w[0].Transfer != o.Transfer || len(w[0].Files) != len(m.Files) {
				t.Fatalf("Waiting: %+v, want the one offer with its %d entries", w, len(m.Files))
			}
			select {
			case err := <-done:
				t.Fatalf("the upload ended before bob answered: %v", err)
			default:
			}
			if err := bob.Answer(o.Transfer, tc.accept); err != nil {
				t.Fatalf("Answer: %v", err)
			}
			err := wait(t, done)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				hubtest.SameTree(t, src, filepath.Join(bob.inbox, "testdata"))
				_, bytes := m.Totals()
				if got := bob.stored.Load(); got != bytes {
					t.Errorf("OnProgress counted %d bytes, want %d", got, bytes)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("upload: %v, want %q", err, tc.want)
				}
				if entries, err := os.ReadDir(bob.inbox); err != nil || len(entries) != 0 {
					t.Errorf("bob's inbox after declining: %v, %v; want it empty", entries, err)
				}
			}
			if w := bob.Waiting(); len(w) != 0 {
				t.Errorf("still waiting after the answer: %+v", w)
			}
			if err := bob.Answer(o.Transfer, true); !errors.Is(err, client.ErrNoOffer) {
				t.Errorf("a second Answer: %v, want ErrNoOffer", err)
			}
		})
	}
}

func TestAnswerToAnUnknownOfferIsErrNoOffer(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := dialAsker(t, h.Addr, "bob")
	if err := bob.Answer("0123456789abcdef0123456789abcdef", true); !errors.Is(err, client.ErrNoOffer) {
		t.Errorf("Answer: %v, want ErrNoOffer", err)
	}
	carol := hubtest.Dial(t, h.Addr, "carol") // no inbox at all
	if err := carol.Answer("x", false); !errors.Is(err, client.ErrNoOffer) {
		t.Errorf("Answer without an inbox: %v, want ErrNoOffer", err)
	}
}

// TestUnansweredOfferIsWithdrawnAtTheDeadline: both sides hear of it, and
// an answer after it is refused. The recipient keeps the deadline: the
// hub cannot see offers that go end to end.
func TestUnansweredOfferIsWithdrawnAtTheDeadline(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := dialAskerWithin(t, h.Addr, "bob", 300*time.Millisecond)
	alice := hubtest.Dial(t, h.Addr, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := uploadAsync(t, ctx, alice, scan(t, hubtest.Testdata(t, "../testdata")), transfer.SendOptions{To: "bob"})
	o := bob.next(t)
	const want = "bob did not answer within 300ms"
	if err := wait(t, done); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("upload: %v, want %q", err, want)
	}
	bob.wasWithdrawn(t, o, want)
}

// wasWithdrawn checks that the asker is told offer o was withdrawn, with
// a reason that says want, and that answering it now fails.
func (a *asker) wasWithdrawn(t *testing.T, o protocol.Offer, want string) {
	t.Helper()
	select {
	case why := <-a.withdrawn:
		if !strings.Contains(why, want) {
			t.Errorf("%s was told %q, want %q", a.Name(), why, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not told that the offer was withdrawn", a.Name())
	}
	if err := a.Answer(o.Transfer, true); !errors.Is(err, client.ErrNoOffer) {
		t.Errorf("Answer to a withdrawn offer: %v, want ErrNoOffer", err)
	}
}

// TestSenderGivingUpWithdrawsTheOffer: a sender that stops waiting takes
// its offer back from the person who has not answered yet.
func TestSenderGivingUpWithdrawsTheOffer(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := dialAsker(t, h.Addr, "bob")
	alice := hubtest.Dial(t, h.Addr, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	done := uploadAsync(t, ctx, alice, scan(t, hubtest.Testdata(t, "../testdata")), transfer.SendOptions{To: "bob"})
	o := bob.next(t)
	cancel()
	if err := wait(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("upload: %v, want context.Canceled", err)
	}
	bob.wasWithdrawn(t, o, "sender: cancelled")
}

// TestDeliverToNobodyFailsAtOnce: a name that is not connected is a
// mistake, not a wait, however long Deliver would wait for a recipient
// that left.
func TestDeliverToNobodyFailsAtOnce(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(ctx context.Context) (*client.Client, error) {
		return client.Dial(ctx, h.Addr, client.Config{Name: "alice", Mux: hubtest.ClientConfig(h.Addr)})
	}
	rep, err := client.Deliver(ctx, dial, scan(t, hubtest.Testdata(t, "../testdata")),
		client.DeliverOptions{SendOptions: transfer.SendOptions{To: "nobody"}, Backoff: client.Backoff{GiveUp: time.Minute}})
	if !errors.Is(err, transfer.ErrRecipientAway) {
		t.Fatalf("Deliver: %v, want ErrRecipientAway", err)
	}
	if rep.Failed() != len(rep.Files) || len(rep.Files) == 0 {
		t.Errorf("report: %+v, want every file not delivered", rep.Files)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Deliver took %s: it waited for a name that was never there", d)
	}
}

// TestWaitingForARecipientThatLeftAndResumes: the recipient drops out
// mid-file; the sender waits on its own connection and, when the
// recipient is back under the same name with the same inbox, finishes
// every file, continuing the cut one where the recipient holds it. Deliver
// does it with connections it dials; Client.Send on the client it is
// given, which stays open.
func TestWaitingForARecipientThatLeftAndResumes(t *testing.T) {
	for _, how := range []string{"Deliver", "Send"} {
		t.Run(how, func(t *testing.T) { testWaitingForARecipient(t, how) })
	}
}

func testWaitingForARecipient(t *testing.T, how string) {
	h := hubtest.Start(t, hub.Config{})
	inbox := filepath.Join(t.TempDir(), "inbox")
	yes := func(protocol.Offer) client.Decision { return client.Accept }
	bob, err := client.Dial(context.Background(), h.Addr, client.Config{Name: "bob", Inbox: inbox, OnOffer: yes, Mux: hubtest.ClientConfig(h.Addr)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sparseFiles(t, dir, 32<<20, "a.bin", "b.bin")
	m := scan(t, dir)

	hold := holdAfter(8 << 20) // the sender, mid-file, until bob is gone
	waited := make(chan error, 1)
	opt := client.DeliverOptions{
		SendOptions: transfer.SendOptions{To: "bob", Parallel: 1, Observer: transfer.Observer{Wrote: hold.wrote}},
		Backoff:     client.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond, GiveUp: 20 * time.Second},
		OnWait: func(err error, _ int, _ time.Duration) {
			select {
			case waited <- err:
			default:
			}
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var alice *hubtest.Client
	send := func() (*transfer.Report, error) {
		dial := func(ctx context.Context) (*client.Client, error) {
			return client.Dial(ctx, h.Addr, client.Config{Name: "alice", Mux: hubtest.ClientConfig(h.Addr)})
		}
		return client.Deliver(ctx, dial, m, opt)
	}
	if how == "Send" {
		alice = hubtest.Dial(t, h.Addr, "alice")
		send = func() (*transfer.Report, error) { return alice.Send(ctx, m, opt) }
	}
	type outcome struct {
		rep *transfer.Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := send()
		done <- outcome{rep, err}
	}()
	<-hold.reached
	bob.Close()
	close(hold.release)
	select {
	case err := <-waited:
		if !errors.Is(err, transfer.ErrRecipientAway) {
			t.Errorf("%s waited for %v, want ErrRecipientAway", how, err)
		}
	case o := <-done:
		t.Fatalf("%s ended while bob was away: %v", how, o.err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not wait for bob", how)
	}
	bob, err = client.Dial(context.Background(), h.Addr, client.Config{Name: "bob", Inbox: inbox, OnOffer: yes, Mux: hubtest.ClientConfig(h.Addr)})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	o := <-done
	if o.err != nil || o.rep.Failed() != 0 {
		t.Fatalf("%s: %v; report %+v", how, o.err, o.rep.Files)
	}
	resumed := int64(0)
	for _, f := range o.rep.Files {
		resumed += f.Resumed
	}
	if resumed <= 0 {
		t.Errorf("report %+v: nothing resumed, want the cut file continued", o.rep.Files)
	}
	hubtest.SameTree(t, dir, filepath.Join(inbox, filepath.Base(dir)))
	if alice != nil {
		if err := alice.Chat("still here"); err != nil || alice.Err() != nil {
			t.Errorf("alice's connection after Send: %v, %v; want it open", err, alice.Err())
		}
	}
}

// TestAnswerAsSoonAsOnOfferSeesTheOffer: the offer is waiting before
// OnOffer is told of it, so that an Answer made at once (here from
// OnOffer itself, the earliest moment there is) finds it.
func TestAnswerAsSoonAsOnOfferSeesTheOffer(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	var bob atomic.Pointer[hubtest.Client]
	answered := make(chan error, 1)
	inbox := filepath.Join(t.TempDir(), "inbox")
	bob.Store(hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: inbox,
		OnOffer: func(o protocol.Offer) client.Decision {
			answered <- bob.Load().Answer(o.Transfer, true)
			return client.Ask
		}}))
	alice := hubtest.Dial(t, h.Addr, "alice")
	src := hubtest.Testdata(t, "../testdata")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := alice.Upload(ctx, scan(t, src), transfer.SendOptions{To: "bob"})
	if aerr := <-answered; aerr != nil {
		t.Fatalf("Answer from OnOffer: %v", aerr)
	}
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("Upload: %v; report %+v", err, rep.Files)
	}
	hubtest.SameTree(t, src, filepath.Join(inbox, "testdata"))
}

// TestDeclineWithAReasonTellsTheSenderWhy: the recipient's reason ends
// the sender's error, and the offer, once declined, cannot be declined
// again.
func TestDeclineWithAReasonTellsTheSenderWhy(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	bob := dialAsker(t, h.Addr, "bob")
	alice := hubtest.Dial(t, h.Addr, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := uploadAsync(t, ctx, alice, scan(t, hubtest.Testdata(t, "../testdata")), transfer.SendOptions{To: "bob"})
	o := bob.next(t)
	if err := bob.Decline(o.Transfer, "not on this laptop, send it to my desktop"); err != nil {
		t.Fatalf("Decline: %v", err)
	}
	const want = "bob: not on this laptop, send it to my desktop"
	if err := wait(t, done); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("upload: %v, want %q", err, want)
	}
	if err := bob.Decline(o.Transfer, "again"); !errors.Is(err, client.ErrNoOffer) {
		t.Errorf("a second Decline: %v, want ErrNoOffer", err)
	}
}

// TestOffersWaitingForOneRecipientAreBounded: a recipient who answers
// nothing holds at most hub.MaxTransfers relayed offers; the next is
// refused at once, and it is told nothing of it.
func TestOffersWaitingForOneRecipientAreBounded(t *testing.T) {
	// Every sender here comes from 127.0.0.1: let one address hold all
	// of bob's slots, to reach the bound per recipient.
	h := hubtest.Start(t, hub.Config{MaxRelaysFromOne: hub.MaxTransfers})
	var asked atomic.Int64
	full := make(chan struct{}) // closed at the last offer that fits
	bob := hubtest.DialConfig(t, h.Addr, client.Config{Name: "bob", Inbox: filepath.Join(t.TempDir(), "inbox"),
		OnOffer: func(protocol.Offer) client.Decision {
			if asked.Add(1) == hub.MaxTransfers {
				close(full)
			}
			return client.Ask
		}})
	src := filepath.Join(hubtest.Testdata(t, "../testdata"), "hello.txt")
	m := scan(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Two senders, as one may have only hub.MaxTransfers open itself.
	senders := []*hubtest.Client{hubtest.Dial(t, h.Addr, "alice"), hubtest.Dial(t, h.Addr, "carol")}
	var waiting []<-chan error
	for i := range hub.MaxTransfers {
		waiting = append(waiting, uploadAsync(t, ctx, senders[i%2], m, transfer.SendOptions{To: "bob"}))
	}
	select {
	case <-full: // each offer waits from before OnOffer hears of it
	case <-time.After(20 * time.Second):
		t.Fatalf("bob was asked %d times, want %d", asked.Load(), hub.MaxTransfers)
	}
	if n := len(bob.Waiting()); n != hub.MaxTransfers {
		t.Fatalf("bob has %d offers waiting, want %d", n, hub.MaxTransfers)
	}
	octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ocancel()
	_, err := senders[0].Upload(octx, m, transfer.SendOptions{To: "bob"})
	if err == nil || !strings.Contains(err.Error(), "bob has 64 transfers to receive already") {
		t.Errorf("one offer more: %v, want refused at once", err)
	}
	if got := asked.Load(); got != hub.MaxTransfers {
		t.Errorf("bob was asked %d times, want %d", got, hub.MaxTransfers)
	}
	cancel()
	for _, w := range waiting {
		if err := wait(t, w); !errors.Is(err, context.Canceled) {
			t.Errorf("a waiting upload ended with %v, want context.Canceled", err)
		}
	}
}
