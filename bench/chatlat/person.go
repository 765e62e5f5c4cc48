package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// Sending to a person two ways, for bench/person.sh: end to end (a link:
// TLS between the two clients on a channel the hub copies, as muxfer's
// clients do) or through the hub's relay (the hub reads each file off
// the sender's TLS and writes it into the recipient's, as they did
// before). -role take receives into -dir, one way or the other, until it
// is stopped; -role give sends -file to -to, -times times, and prints
// each send's rate.

// take receives whatever is offered, by path (e2e or relay), as name,
// into dir, until SIGINT or SIGTERM.
func take(addr string, cfg mux.Config, path, name, dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch path {
	case "relay":
		c, err := hubtest.NewRelayClient(ctx, addr, hubtest.RelayConfig{Name: name, Inbox: dir}, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
	case "e2e":
		c, err := client.Dial(ctx, addr, client.Config{Name: name, Identity: client.NewIdentity(), Inbox: dir, KeepParts: -1,
			OnOffer: func(protocol.Offer) client.Decision { return client.Accept }, Mux: cfg})
		if err != nil {
			return err
		}
		defer c.Close()
	default:
		return fmt.Errorf("-path must be e2e or relay")
	}
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

// give sends file to the client called to, by path, times times.
func give(addr string, cfg mux.Config, path, name, to, file string, times int) error {
	ctx := context.Background()
	m, _, err := transfer.Scan(file)
	if err != nil {
		return err
	}
	var upload func() (*transfer.Report, error)
	switch path {
	case "relay":
		c, err := hubtest.NewRelayClient(ctx, addr, hubtest.RelayConfig{Name: name}, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		upload = func() (*transfer.Report, error) { return c.Upload(ctx, m, transfer.SendOptions{To: to}) }
	case "e2e":
		c, err := client.Dial(ctx, addr, client.Config{Name: name, Identity: client.NewIdentity(), Mux: cfg})
		if err != nil {
			return err
		}
		defer c.Close()
		upload = func() (*transfer.Report, error) { return c.Upload(ctx, m, transfer.SendOptions{To: to}) }
	default:
		return fmt.Errorf("-path must be e2e or relay")
	}
	for range times {
		start := time.Now()
		rep, err := upload()
		if err == nil && rep.Failed() > 0 {
			err = fmt.Errorf("%d files failed: %s", rep.Failed(), rep.Files[0].Err)
		}
		if err != nil {
			return err
		}
		took := time.Since(start)
		fmt.Printf("%s: %.0f MB in %.3f s, %.1f MB/s\n", path, float64(rep.Bytes)/1e6, took.Seconds(), float64(rep.Bytes)/took.Seconds()/1e6)
	}
	return nil
}
