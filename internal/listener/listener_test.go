package listener

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ready struct{}

func (ready) Readiness(context.Context) (bool, map[string]string) { return true, nil }

const uiToken = "ui-token-0123456789abcdef"

// start serves a UI and an API that read their bodies and answer 200.
func start(t *testing.T, auth Auth, limits Limits, hosts ...string) string {
	t.Helper()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Readiness: ready{}, UI: echo, API: echo, Auth: auth, Hosts: hosts})
	s, err := Start("127.0.0.1:0", h, limits)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s.Addr
}

// do makes one request on a connection of its own.
func do(t *testing.T, method, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	res, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func TestEveryAnswerSaysNosniffAndCannotBeFramed(t *testing.T) {
	t.Parallel()
	base := "http://" + start(t, Auth{Token: uiToken}, Limits{})
	for _, path := range []string{"/", "/healthz", "/readyz", "/metrics", "/ui/", "/v1/resets", "/nothing"} {
		res := do(t, "GET", base+path, "Authorization", "Bearer "+uiToken)
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "DENY", res.Header.Get("X-Frame-Options"), path)
		require.Equal(t, "frame-ancestors 'none'", res.Header.Get("Content-Security-Policy"), path)
	}
	for _, path := range []string{"/ui/", "/ui/api/queues", "/v1/campaigns"} {
		res := do(t, "GET", base+path, "Authorization", "Bearer "+uiToken)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"), "%s carries users", path)
	}
	res := do(t, "GET", base+"/ui/")
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), "refusals too")
}

// A page on another domain whose name its owner points at 127.0.0.1 (DNS
// rebinding) reaches the listener with its own name as Host: refused.
// Addresses and localhost cannot be rebound; other names must be listed.
func TestUIRefusesForeignHosts(t *testing.T) {
	t.Parallel()
	addr := start(t, Auth{}, Limits{}, "resetq.example.com")
	_, port, _ := net.SplitHostPort(addr)
	base := "http://" + addr
	for host, want := range map[string]int{
		"127.0.0.1:" + port:          http.StatusOK,
		"localhost:" + port:          http.StatusOK,
		"LOCALHOST.:" + port:         http.StatusOK,
		"[::1]:" + port:              http.StatusOK,
		"10.1.2.3":                   http.StatusOK,
		"resetq.example.com":         http.StatusOK,
		"Resetq.Example.COM:443":     http.StatusOK,
		"attacker.example:" + port:   http.StatusForbidden,
		"rebind.attacker.example":    http.StatusForbidden,
		"resetq.example.com.evil.io": http.StatusForbidden,
		"localhost.attacker.example": http.StatusForbidden,
	} {
		res := do(t, "GET", base+"/ui/", "Host", host)
		require.Equal(t, want, res.StatusCode, host)
		if want == http.StatusForbidden {
			require.True(t, res.Close, "Connection: close")
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/resets"} {
		res := do(t, "GET", base+path, "Host", "resetq-worker:9464")
		require.Equal(t, http.StatusOK, res.StatusCode, "%s: probes, scrapes and bearer-token clients may use any name", path)
	}
}

// A page on another site cannot make the operator's browser change
// anything through the UI: not with its Sec-Fetch-Site, not with its
// Origin. The UI's own pages, and clients that are not browsers, can.
func TestUIRefusesCrossSiteChanges(t *testing.T) {
	t.Parallel()
	auth := Auth{Username: "ops", Password: "correct-horse"}
	addr := start(t, auth, Limits{})
	url := "http://" + addr + "/ui/api/queues/resetq-corp:pause"
	basic := "Basic b3BzOmNvcnJlY3QtaG9yc2U=" // ops:correct-horse
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, h := range [][]string{
			{"Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "same-site"},
			{"Origin", "http://attacker.example"},
			{"Origin", "http://localhost:1"},
		} {
			res := do(t, method, url, "Authorization", basic, h[0], h[1])
			require.Equal(t, http.StatusForbidden, res.StatusCode, "%s with %s: %s", method, h[0], h[1])
			require.True(t, res.Close, "Connection: close")
		}
		for _, h := range [][]string{
			{"Sec-Fetch-Site", "same-origin"},
			{"Origin", "http://" + addr},
			{"User-Agent", "curl/8"},
		} {
			res := do(t, method, url, "Authorization", basic, h[0], h[1])
			require.Equal(t, http.StatusOK, res.StatusCode, "%s with %s: %s", method, h[0], h[1])
		}
	}
	res := do(t, "GET", "http://"+addr+"/ui/api/queues", "Authorization", basic, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusOK, res.StatusCode, "reading is not changing (the browser keeps the answer from the other site)")
}

func TestUIAuthSchemesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	token := "http://" + start(t, Auth{Token: uiToken}, Limits{}) + "/ui/"
	for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
		require.Equal(t, http.StatusOK, do(t, "GET", token, "Authorization", scheme+" "+uiToken).StatusCode, scheme)
	}
	require.Equal(t, http.StatusUnauthorized, do(t, "GET", token, "Authorization", "Bearer "+uiToken+"x").StatusCode)
	basic := "http://" + start(t, Auth{Username: "ops", Password: "correct-horse"}, Limits{}) + "/ui/"
	for _, scheme := range []string{"basic", "BASIC", "Basic"} {
		require.Equal(t, http.StatusOK, do(t, "GET", basic, "Authorization", scheme+" b3BzOmNvcnJlY3QtaG9yc2U=").StatusCode, scheme)
	}
}

// A viewer may look at the UI but not change it; the operator may; a
// credential nobody has is refused.
func TestViewersOnlyRead(t *testing.T) {
	t.Parallel()
	const viewerToken = "viewer-token-0123456789ab"
	ui := "http://" + start(t, Auth{Token: uiToken, Viewers: []Credential{{Name: "noc", Token: viewerToken}}}, Limits{}) + "/ui/"
	require.Equal(t, http.StatusOK, do(t, "GET", ui, "Authorization", "Bearer "+viewerToken).StatusCode)
	require.Equal(t, http.StatusForbidden, do(t, "POST", ui, "Authorization", "Bearer "+viewerToken, "Sec-Fetch-Site", "same-origin").StatusCode)
	require.Equal(t, http.StatusOK, do(t, "POST", ui, "Authorization", "Bearer "+uiToken, "Sec-Fetch-Site", "same-origin").StatusCode)
	require.Equal(t, http.StatusUnauthorized, do(t, "GET", ui, "Authorization", "Bearer someone-else-0123456789").StatusCode)
}

// Who tells the handler whose credentials a request carried.
func TestWhoMadeTheRequest(t *testing.T) {
	t.Parallel()
	var got Identity
	h := Auth{Username: "ops", Password: "correct-horse", Viewers: []Credential{{Name: "noc", Username: "noc", Password: "look-only"}}}.
		Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = Who(r) }))
	for user, want := range map[string]Identity{"ops:correct-horse": {Name: "ops", Operator: true}, "noc:look-only": {Name: "noc"}} {
		r, _ := http.NewRequest("GET", "/", nil)
		u, p, _ := strings.Cut(user, ":")
		r.SetBasicAuth(u, p)
		h.ServeHTTP(httptest.NewRecorder(), r)
		require.Equal(t, want, got)
	}
	var anon Identity
	Auth{}.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { anon = Who(r) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	require.Equal(t, Identity{Name: "anonymous"}, anon, "with no credentials configured, everyone is an anonymous viewer")
}

// rawRequest sends a request's head on a connection of its own and
// returns the connection and a reader of its answer.
func rawRequest(t *testing.T, addr, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n")
	require.NoError(t, err)
	return c, bufio.NewReader(c)
}

// A refusal does not wait for the body the client announced: it answers
// at once, says Connection: close and closes, long before the read
// deadline would.
func TestRefusalsDoNotWaitForTheBody(t *testing.T) {
	t.Parallel()
	addr := start(t, Auth{Token: uiToken}, Limits{ReadTimeout: time.Minute})
	for name, head := range map[string]string{
		"no credentials": "POST /ui/api/queues/resetq-corp:pause HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 1000\n",
		"cross-site":     "POST /ui/api/queues/resetq-corp:pause HTTP/1.1\nHost: 127.0.0.1\nSec-Fetch-Site: cross-site\nAuthorization: Bearer " + uiToken + "\nContent-Length: 1000\n",
		"foreign host":   "POST /ui/api/queues/resetq-corp:pause HTTP/1.1\nHost: attacker.example\nAuthorization: Bearer " + uiToken + "\nContent-Length: 1000\n",
		"too large":      "POST /ui/api/queues/resetq-corp/pending_tasks:batch_delete HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer " + uiToken + "\nContent-Length: 2000000\n",
	} {
		c, br := rawRequest(t, addr, head)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		res, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "%s: answered without the body", name)
		require.GreaterOrEqual(t, res.StatusCode, 400, name)
		require.True(t, res.Close, "%s: Connection: close", name)
		_, _ = io.Copy(io.Discard, res.Body)
		_, err = br.ReadByte()
		require.ErrorIs(t, err, io.EOF, "%s: the listener closed the connection", name)
	}
}

func TestHeadersAreBounded(t *testing.T) {
	t.Parallel()
	addr := start(t, Auth{}, Limits{})
	c, br := rawRequest(t, addr, "GET /healthz HTTP/1.1\nHost: 127.0.0.1\nX-Big: "+strings.Repeat("a", 100<<10)+"\n")
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.StatusCode)
}

// Connections beyond MaxConns wait to be accepted until one closes.
func TestConnectionsAreBounded(t *testing.T) {
	t.Parallel()
	addr := start(t, Auth{}, Limits{MaxConns: 4, ReadHeaderTimeout: time.Minute})
	var held []net.Conn
	for i := range 4 {
		c, br := rawRequest(t, addr, "GET /healthz HTTP/1.1\nHost: 127.0.0.1\n")
		res, err := http.ReadResponse(br, nil) // accepted and served, then kept alive
		require.NoError(t, err, "connection %d", i)
		res.Body.Close()
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr) // the kernel queues it
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = br.Peek(1)
	var ne net.Error
	require.ErrorAs(t, err, &ne, "a fifth connection is not served while four are open")
	require.True(t, ne.Timeout())

	require.NoError(t, held[0].Close())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "served once one of the four closed")
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}
