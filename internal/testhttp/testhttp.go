package testhttp

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Answer is a response read to its end.
type Answer struct {
	Status int
	Header http.Header
	// Body is trimmed of surrounding white space.
	Body string
}

// JSON decodes the body into v, failing t when it is not JSON.
func (a Answer) JSON(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(a.Body), v), a.Body)
}

// Do sends body to url with the header given as name, value pairs (later
// pairs replace earlier ones) under the test's context, and reads the
// answer. It fails t only when no answer comes.
func Do(t testing.TB, method, url, body string, header ...string) Answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return Answer{Status: res.StatusCode, Header: res.Header, Body: strings.TrimSpace(string(raw))}
}
