package freeport_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/freeport"
)

func TestStartRetriesOnNewPortsOnlyWhileAPortWasTaken(t *testing.T) {
	t.Parallel()
	var seen [][]int
	got, err := freeport.Start(2, 3, func(ports []int, attempt int) (int, error) {
		seen = append(seen, ports)
		if attempt < 3 {
			return 0, fmt.Errorf("bind: %w", freeport.ErrTaken)
		}
		return ports[0], nil
	})
	require.NoError(t, err)
	require.Len(t, seen, 3)
	require.Len(t, seen[2], 2)
	require.Equal(t, seen[2][0], got)
	require.NotZero(t, got)

	other := errors.New("no such binary")
	calls := 0
	_, err = freeport.Start(1, 5, func([]int, int) (int, error) { calls++; return 0, other })
	require.ErrorIs(t, err, other)
	require.Equal(t, 1, calls, "another failure is not retried")

	calls = 0
	_, err = freeport.Start(1, 2, func([]int, int) (int, error) { calls++; return 0, freeport.ErrTaken })
	require.ErrorIs(t, err, freeport.ErrTaken)
	require.Equal(t, 2, calls, "attempts bound the retries")
}
