package retryafter_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/retryafter"
)

func TestParse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		" 7 ":                           7 * time.Second,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"10000000000":                   retryafter.Max, // would overflow a Duration
		"99999999999999999999":          0,              // not an int64: unreadable
		"Wed, 02 Dec 2026 01:00:30 GMT": 30 * time.Second,
		"Wed, 02 Dec 2026 00:59:30 GMT": 0,
		"Fri, 31 Dec 9999 23:59:59 GMT": retryafter.Max,
	} {
		require.Equal(t, want, retryafter.Parse(v, now), "%q", v)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"120", "-5", "10000000000", "Wed, 21 Oct 2015 07:28:00 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryafter.Parse(v, time.Now()); d < 0 || d > retryafter.Max {
			t.Fatalf("wait %s for %q", d, v)
		}
	})
}
