package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// exampleHub runs a hub on loopback for the examples, as `muxfer serve`
// would elsewhere: its address and key are what a client is given. stop
// ends it.
func exampleHub() (addr string, key mux.Key, stop func()) {
	dir, err := os.MkdirTemp("", "hub")
	if err != nil {
		log.Fatal(err)
	}
	key = mux.NewKey()
	h, err := hub.New(hub.Config{Dir: dir, Mux: mux.Config{Key: key}})
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

// Sending a folder: scan it, connect, send. Send reconnects and resumes
// after a cut, and reports each file as the hub verified it.
func Example_sendFolder() {
	addr, key, stop := exampleHub()
	defer stop()

	ctx := context.Background()
	m, skipped, err := transfer.Scan("../testdata")
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(ctx, addr, client.Config{Name: "alice", Mux: mux.Config{Key: key}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Send(ctx, m, client.DeliverOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files verified, %d failed, %d skipped\n", len(rep.Files)-rep.Failed(), rep.Failed(), len(skipped))
	// Output: 9 files verified, 0 failed, 0 skipped
}

// A chat bot: it answers every "ping" said to everyone with a direct
// "pong" to whoever said it. OnMessage runs on the client's reading
// goroutine and must not block, so the bot hands each line to its own
// loop.
func Example_chatBot() {
	addr, key, stop := exampleHub()
	defer stop()
	ctx := context.Background()

	lines := make(chan protocol.Chat, 64)
	bot, err := client.Dial(ctx, addr, client.Config{Name: "bot", Mux: mux.Config{Key: key},
		OnMessage: func(m protocol.Message) {
			if line, ok := m.(protocol.Chat); ok {
				select {
				case lines <- line:
				default: // the bot is behind: it skips the line
				}
			}
		}})
	if err != nil {
		log.Fatal(err)
	}
	loop := make(chan struct{})
	go func() {
		defer close(loop)
		for line := range lines {
			if line.Text == "ping" && line.To == "" {
				bot.Message(line.From, "pong")
			}
		}
	}()
	defer func() {
		bot.Close() // OnMessage is not called after Close returns
		close(lines)
		<-loop
	}()

	// Someone says ping, and hears back.
	answers := make(chan protocol.Chat, 1)
	alice, err := client.Dial(ctx, addr, client.Config{Name: "alice", Mux: mux.Config{Key: key},
		OnMessage: func(m protocol.Message) {
			if line, ok := m.(protocol.Chat); ok && line.To != "" {
				answers <- line
			}
		}})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	if err := alice.Chat("ping"); err != nil {
		log.Fatal(err)
	}
	answer := <-answers
	fmt.Printf("%s says %s\n", answer.From, answer.Text)
	// Output: bot says pong
}
