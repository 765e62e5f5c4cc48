package client

import (
	"context"

	"github.com/muxfer/muxfer/transfer"
)

// The tests drive the layer under Session directly.

type DeliverOptions = deliverOptions

var Deliver = deliverAll

func (c *Client) Send(ctx context.Context, m *transfer.Manifest, opt DeliverOptions) (*transfer.Report, error) {
	return c.send(ctx, m, opt)
}
