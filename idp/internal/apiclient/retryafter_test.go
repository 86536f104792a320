package apiclient_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

func TestErrorOfReadsTheStatusesEveryIdPShares(t *testing.T) {
	t.Parallel()
	wait := http.Header{"Retry-After": {"7"}}
	for _, c := range []struct {
		status int
		h      http.Header
		want   idp.Kind
	}{
		{429, nil, idp.RateLimited},
		{429, wait, idp.RateLimited},
		{503, wait, idp.RateLimited},
		{503, nil, idp.Transient},
		{500, nil, idp.Transient},
		{502, wait, idp.Transient},
		{400, nil, idp.InvalidRequest},
		{404, wait, idp.InvalidRequest},
	} {
		e := apiclient.ErrorOf(idp.OpReset, c.status, c.h)
		require.Equal(t, c.want, e.Kind, "%d %v", c.status, c.h)
		require.Equal(t, c.status, e.Status)
		require.Equal(t, idp.OpReset, e.Op)
		if c.h != nil {
			require.Equal(t, 7*time.Second, e.RetryAfter)
		}
	}
	reset := http.Header{"Retry-After": {"7"}}
	reset.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	require.Greater(t, apiclient.ErrorOf(idp.OpReset, 429, reset).RetryAfter, 50*time.Second, "the later of the two")
	require.Equal(t, idp.Unconfirmed, apiclient.ErrorOf(idp.OpReset, 504, nil).Kind, "a proxy gave up on a reset: it may have been sent")
	require.Equal(t, idp.Transient, apiclient.ErrorOf(idp.OpLookup, 504, nil).Kind, "a lookup sends nothing: retried")
	okta := http.Header{"X-Rate-Limit-Reset": {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)}}
	require.Greater(t, apiclient.ErrorOf(idp.OpReset, 429, okta).RetryAfter, 50*time.Second, "Okta's spelling")
}
