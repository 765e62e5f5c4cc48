//go:build !unix

package main

import "github.com/muxfer/muxfer/hub"

// reloadOnHangup does nothing where there is no SIGHUP: the hub still
// rereads its members file when it changes.
func reloadOnHangup(*hub.Hub) (stop func()) { return func() {} }
