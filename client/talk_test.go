package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

// TestRenamesAnsweredInOrderAndNameFollows runs several Renames at once,
// some refused: each gets its own answer, and Name ends as the name the
// hub gave last.
func TestRenamesAnsweredInOrderAndNameFollows(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	c := hubtest.Dial(t, h.Addr, "alice")
	hubtest.Dial(t, h.Addr, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want, refused := fmt.Sprintf("alice%d", i), i%2 == 1
			if refused {
				want = "bob"
			}
			got, err := c.Rename(ctx, want)
			switch {
			case refused && !errors.Is(err, client.ErrNameRefused):
				t.Errorf("Rename(%q) = %q, %v; want ErrNameRefused", want, got, err)
			case !refused && (err != nil || got != want):
				t.Errorf("Rename(%q) = %q, %v", want, got, err)
			}
		}()
	}
	wg.Wait()
	final, err := c.Rename(ctx, c.Name())
	if err != nil || final != c.Name() || !strings.HasPrefix(final, "alice") {
		t.Errorf("Rename to its own name %q = %q, %v", c.Name(), final, err)
	}
	list, err := c.Who(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if list[0].Name != c.Name() {
		t.Errorf("hub calls alice %q, Name says %q", list[0].Name, c.Name())
	}
}

func TestMessageRefusesBeforeSending(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	c := hubtest.Dial(t, h.Addr, "alice")
	if err := c.Message("", "hi"); err == nil {
		t.Error("Message without a recipient was sent")
	}
	if err := c.Message("bob", strings.Repeat("x", protocol.MaxChatLen+1)); err == nil {
		t.Error("Message over MaxChatLen was sent")
	}
	if err := c.Err(); err != nil {
		t.Errorf("session ended: %v", err)
	}
}
