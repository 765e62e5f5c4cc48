package client

import (
	"context"
	"github.com/muxfer/muxfer/protocol"

	"github.com/muxfer/muxfer/transfer"
)

// The tests drive deliver, the layer under Session.Send, directly.

type DeliverOptions = deliverOptions

// Deliver is deliver owning its connections: it dials again as
// opt.Backoff says when one is lost, and closes each.
func Deliver(ctx context.Context, dial func(context.Context) (*Client, error), m *transfer.Manifest, opt DeliverOptions) (*transfer.Report, error) {
	return deliver(ctx, dial, m, opt, true)
}

// Send is deliver on c alone: a lost connection ends it.
func (c *Client) Send(ctx context.Context, m *transfer.Manifest, opt DeliverOptions) (*transfer.Report, error) {
	opt.NoReconnect, opt.OnLost = true, nil
	return deliver(ctx, func(context.Context) (*Client, error) { return c, nil }, m, opt, false)
}

// GetAccepts reports why a Get of paths would decline an offer of files
// from the hub, or nil (see getting.expected).
func GetAccepts(paths []string, files []protocol.File) error {
	g := &getting{tops: topNames(paths)}
	return g.expected(files)
}
