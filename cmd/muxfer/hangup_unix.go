//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/muxfer/muxfer/hub"
)

// reloadOnHangup rereads a members-only hub's members file on each
// SIGHUP, until the function it returns is called.
func reloadOnHangup(h *hub.Hub) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-ch:
				h.ReloadMembers() // it logs what it did, or why it kept the members
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-ended
	}
}
