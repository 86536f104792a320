package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/listener"
)

// shortLimits are the listeners' limits, shortened so the tests stay
// fast.
var shortLimits = listener.Limits{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second,
	WriteTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second}

const (
	listenOps = "ops-token-0123456789abcdefgh" // every scope
	listenApp = "app-token-0123456789abcdefgh" // resets only
)

// listeners runs a worker whose listener serves the writable UI (with a
// password) and the API, and `resetq api`'s listener, both within limits.
func listeners(t *testing.T, limits listener.Limits) (worker, api string) {
	t.Helper()
	b := setup(t, settings{noWorker: true, top: "api:\n  in_worker: true\n  listen: 127.0.0.1:0\n  tokens:\n" +
		"    - {name: ops, token: " + listenOps + ", scopes: [resets, outcomes, campaigns]}\n" +
		"    - {name: app, token: " + listenApp + ", scopes: [resets]}\n"})
	writable := false
	b.cfg.HTTP.UIReadOnly = &writable
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	w, err := startWorkerWithin(context.Background(), b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), limits)
	require.NoError(t, err)
	t.Cleanup(w.stop)
	a, err := startAPI(b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), limits)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return w.listener.Addr, a.Addr
}

// trickler is a client that sends a request's head, then its body (or
// the rest of its headers) a byte every 20 ms, until the listener cuts
// it.
type trickler struct {
	head string
	cut  chan time.Duration // how long after its start the listener closed it
}

func trickle(t *testing.T, addr, head string) *trickler {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	tr := &trickler{head: head, cut: make(chan time.Duration, 1)}
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c) // the answer, if any, then EOF
		close(closed)
		tr.cut <- time.Since(start)
	}()
	go func() {
		defer c.Close()
		if _, err := io.WriteString(c, strings.ReplaceAll(head, "\n", "\r\n")); err != nil {
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for range 1000 { // 20 s at most
			select {
			case <-closed:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					<-closed
					return
				}
			}
		}
	}()
	return tr
}

// TestTricklingClientsAreCutWhileHealthzAnswers opens 60 connections on
// each listener that announce a body (or headers) and trickle it: the API
// with and without a token, the UI with its password, the probes. Every
// one is cut within the read deadline, and /healthz answers throughout.
func TestTricklingClientsAreCutWhileHealthzAnswers(t *testing.T) {
	t.Parallel()
	worker, api := listeners(t, shortLimits)
	body := "Content-Type: application/json\nContent-Length: 4000\n\n"
	heads := map[string][]string{
		worker: {
			"POST /v1/resets HTTP/1.1\nHost: x\nAuthorization: Bearer " + listenOps + "\n" + body,
			"POST /v1/campaigns HTTP/1.1\nHost: x\n" + body,
			"POST /ui/api/queues/resetq-corp/scheduled_tasks:batch_delete HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Basic b3BzOmNvcnJlY3QtaG9yc2U=\n" + body,
			"POST /readyz HTTP/1.1\nHost: x\n" + body,
			"GET /healthz HTTP/1.1\nHost: x\nX-Slow: ",
		},
		api: {
			"POST /v1/resets HTTP/1.1\nHost: x\nAuthorization: Bearer " + listenOps + "\n" + body,
			"POST /v1/campaigns HTTP/1.1\nHost: x\n" + body,
			"POST /v1/campaigns HTTP/1.1\nHost: x\nAuthorization: Bearer " + listenApp + "\n" + body,
			"POST /healthz HTTP/1.1\nHost: x\n" + body,
			"GET /readyz HTTP/1.1\nHost: x\nX-Slow: ",
		},
	}
	for addr, hs := range heads {
		var all []*trickler
		for i := range 60 {
			all = append(all, trickle(t, addr, hs[i%len(hs)]))
		}
		healthz := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		answered, failed := 0, []error(nil)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				res, err := healthz.Get("http://" + addr + "/healthz")
				if err != nil {
					failed = append(failed, err)
					continue
				}
				res.Body.Close()
				answered++
			}
		})
		within := shortLimits.ReadTimeout + 2*time.Second
		deadline := time.After(3 * within)
		for _, tr := range all {
			select {
			case d := <-tr.cut:
				require.Less(t, d, within, "%s %q: cut after %s", addr, tr.head, d)
			case <-deadline:
				t.Fatalf("%s: %q still open after %s", addr, tr.head, 3*within)
			}
		}
		close(stop)
		wg.Wait()
		require.Empty(t, failed, "/healthz kept answering")
		require.Positive(t, answered)
	}
}

// rawAnswer sends a request's head alone and reads the answer.
func rawAnswer(t *testing.T, addr, head string) (*http.Response, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(c, strings.ReplaceAll(head, "\n", "\r\n"))
	require.NoError(t, err)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "answered before the body came")
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, br
}

// TestAPIRefusesWithoutWaitingForTheBody: 401, 403 and 413 are answered as
// soon as the headers are in, and the connection closed, long before the
// read deadline (a minute here).
func TestAPIRefusesWithoutWaitingForTheBody(t *testing.T) {
	t.Parallel()
	worker, api := listeners(t, listener.Limits{ReadTimeout: time.Minute})
	for _, addr := range []string{worker, api} {
		for want, head := range map[int]string{
			http.StatusUnauthorized:          "POST /v1/resets HTTP/1.1\nHost: x\nContent-Length: 1000\n\n",
			http.StatusForbidden:             "POST /v1/campaigns HTTP/1.1\nHost: x\nAuthorization: Bearer " + listenApp + "\nContent-Length: 1000\n\n",
			http.StatusRequestEntityTooLarge: "POST /v1/resets HTTP/1.1\nHost: x\nAuthorization: Bearer " + listenOps + "\nContent-Type: application/json\nContent-Length: 100000\n\n",
		} {
			res, br := rawAnswer(t, addr, head)
			require.Equal(t, want, res.StatusCode, "%s %q", addr, head)
			require.True(t, res.Close, "Connection: close")
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			_, err := br.ReadByte()
			require.ErrorIs(t, err, io.EOF, "%s %d: the listener closed the connection", addr, want)
		}
	}
}

// TestUploadsOutlastTheReadDeadline: an authenticated campaign upload
// that takes longer than the listeners' read and write deadlines still
// arrives and is answered.
func TestUploadsOutlastTheReadDeadline(t *testing.T) {
	t.Parallel()
	_, api := listeners(t, shortLimits)
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range 30 {
		fmt.Fprintf(&csv, "user%04d@example.com\n", i+1)
	}
	pr, pw := io.Pipe()
	go func() {
		// 30 rows over about 3 s: past ReadTimeout (1 s) and WriteTimeout
		// (2 s).
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for line := range strings.Lines(csv.String()) {
			<-tick.C
			if _, err := io.WriteString(pw, line); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", "http://"+api+"/v1/campaigns?provider=corp&name=slow&dry_run=true", pr)
	require.NoError(t, err)
	req.ContentLength = int64(csv.Len())
	req.Header.Set("Authorization", "Bearer "+listenOps)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", b)
	require.Contains(t, string(b), `"rows":30`)
}
