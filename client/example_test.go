package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
)

// exampleHub runs a hub on loopback for the examples, as `muxfer serve`
// would elsewhere: its address and key are what a client is given. stop
// ends it.
func exampleHub() (addr string, key client.Key, stop func()) {
	dir, err := os.MkdirTemp("", "hub")
	if err != nil {
		log.Fatal(err)
	}
	key = client.NewKey()
	h, err := hub.New(hub.Config{Dir: dir, Key: key})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go h.Serve(ln)
	return ln.Addr().String(), key, func() { h.Close(); os.RemoveAll(dir) }
}

// Sending a folder: connect, name the paths, send. The session
// reconnects and resumes after a cut, and reports each file as the hub
// verified it.
func Example_sendFolder() {
	addr, key, stop := exampleHub()
	defer stop()

	ctx := context.Background()
	s, err := client.Connect(ctx, addr, client.SessionConfig{Name: "alice", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	files, skipped, err := client.Paths("../testdata")
	if err != nil {
		log.Fatal(err)
	}
	rep, err := s.Send(ctx, files, client.SendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files verified, %d failed, %d skipped\n", len(rep.Files)-rep.Failed(), rep.Failed(), len(skipped))
	// Output: 9 files verified, 0 failed, 0 skipped
}

// A chat bot: it answers every "ping" said to everyone with a direct
// "pong" to whoever said it, reading the session's events in order.
func Example_chatBot() {
	addr, key, stop := exampleHub()
	defer stop()
	ctx := context.Background()

	bot, err := client.Connect(ctx, addr, client.SessionConfig{Name: "bot", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	defer bot.Close()
	go func() {
		for ev := range bot.Events() { // ends when bot is closed
			if m, ok := ev.(client.Message); ok && m.Text == "ping" && m.To == "" {
				bot.Message(m.From, "pong")
			}
		}
	}()

	// Someone says ping, and hears back.
	alice, err := client.Connect(ctx, addr, client.SessionConfig{Name: "alice", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	if err := alice.Chat("ping"); err != nil {
		log.Fatal(err)
	}
	for ev := range alice.Events() {
		if m, ok := ev.(client.Message); ok && m.To != "" {
			fmt.Printf("%s says %s\n", m.From, m.Text)
			break
		}
	}
	// Output: bot says pong
}

// Receiving: a session with a folder numbers each offer another client
// makes and waits for an answer; here every offer is taken.
func Example_receive() {
	addr, key, stop := exampleHub()
	defer stop()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "inbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	bob, err := client.Connect(ctx, addr, client.SessionConfig{Name: "bob", Key: key, Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	received := make(chan client.OfferDone, 1)
	go func() {
		for ev := range bob.Events() {
			switch ev := ev.(type) {
			case client.Offered:
				bob.Accept(ev.Offer.N) // or Decline(n, "why")
			case client.OfferDone:
				received <- ev
			}
		}
	}()

	alice, err := client.Connect(ctx, addr, client.SessionConfig{Name: "alice", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	files, _, err := client.Paths("../testdata")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := alice.Send(ctx, files, client.SendOptions{To: "bob"}); err != nil {
		log.Fatal(err)
	}
	done := <-received
	fmt.Printf("bob received %d files from %s, %d failed\n", done.Received, done.Offer.From, done.Failed)
	// Output: bob received 9 files from alice, 0 failed
}

// Getting files back: what a session uploaded under its identity, it may
// list and get again later, from any machine with the same identity.
func ExampleSession_Get() {
	addr, key, stop := exampleHub()
	defer stop()
	ctx := context.Background()
	me := client.NewIdentity() // keep it: client.IdentityFile saves and loads one

	s, err := client.Connect(ctx, addr, client.SessionConfig{Name: "alice", Key: key, Identity: me})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	files, _, err := client.Paths("../testdata/nested")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Send(ctx, files, client.SendOptions{}); err != nil {
		log.Fatal(err)
	}
	list, err := s.List(ctx, "nested", true)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range list {
		if !e.Dir {
			fmt.Println(e.Path, e.Size, "bytes, uploaded by", e.By)
		}
	}
	dir, _ := os.MkdirTemp("", "fetched")
	defer os.RemoveAll(dir)
	rep, err := s.Get(ctx, dir, []string{"nested"}, client.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("got %d files, %d failed\n", len(rep.Files)-rep.Failed(), rep.Failed())
	// Output:
	// nested/a/b/c/deep.txt 18 bytes, uploaded by alice
	// nested/a/shallow.txt 10 bytes, uploaded by alice
	// got 2 files, 0 failed
}

// Files for someone who is offline: the hub holds them sealed to her
// identity, and she is offered them when she connects.
func Example_holdForSomeoneOffline() {
	addr, key, stop := exampleHub()
	defer stop()
	ctx := context.Background()
	carolID := client.NewIdentity()
	carol, err := client.Connect(ctx, addr, client.SessionConfig{Name: "carol", Key: key, Identity: carolID})
	if err != nil {
		log.Fatal(err)
	}
	carol.Close() // the name is hers now; she leaves

	alice, err := client.Connect(ctx, addr, client.SessionConfig{Name: "alice", Key: key, Identity: client.NewIdentity()})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	files, _, err := client.Paths("../testdata/nested")
	if err != nil {
		log.Fatal(err)
	}
	go alice.Send(ctx, files, client.SendOptions{To: "carol"})
	for ev := range alice.Events() {
		if d, ok := ev.(client.SendDone); ok {
			fmt.Println("held for", d.Held.To, "files:", len(d.Report.Files), "error:", d.Err)
			break
		}
	}

	dir, _ := os.MkdirTemp("", "carol")
	defer os.RemoveAll(dir)
	carol, err = client.Connect(ctx, addr, client.SessionConfig{Name: "carol", Key: key, Identity: carolID, Dir: dir,
		Decide: func(o client.Offer) client.Decision { return client.Accept }})
	if err != nil {
		log.Fatal(err)
	}
	defer carol.Close()
	for ev := range carol.Events() {
		switch ev := ev.(type) {
		case client.Offered:
			fmt.Println("offered by", ev.Offer.From, "held:", ev.Offer.Held != nil)
		case client.OfferDone:
			fmt.Println("received", ev.Received, "failed", ev.Failed)
			return
		}
	}
	// Output:
	// held for [carol] files: 2 error: <nil>
	// offered by alice held: true
	// received 2 failed 0
}
