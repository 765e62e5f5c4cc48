package transfer

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// session, stream and receiver loop a test starts must have ended.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
