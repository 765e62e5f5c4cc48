package main

import "time"

// within checks cond every few milliseconds until it holds (true) or the
// time is up (false): for what a test can only observe, such as a file
// growing on the hub or a timer's output, not wait on.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
	return true
}
