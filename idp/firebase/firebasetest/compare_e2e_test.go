//go:build e2e

package firebasetest_test

import (
	"testing"

	"github.com/resetq/resetq/internal/realidp"
)

// TestGooglesEmulatorBehaves puts the emulator's questions to Google's own
// Firebase Auth emulator: the two must answer alike.
func TestGooglesEmulatorBehaves(t *testing.T) {
	t.Parallel()
	behaves(t, realidp.NewTestFirebaseAuth(t).URL())
}
