package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// browser drives headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: it reads commands on fd 3 and writes answers
// on fd 4, each a JSON message ended by a NUL byte), so a test can open
// pages, wait for them and run script in them, as a person's browser
// would, with no client library.
type browser struct {
	t        *testing.T
	toChrome *os.File
	mu       sync.Mutex
	next     int
	waiting  map[int]chan cdpAnswer
}

type cdpAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startBrowser starts Chromium with a profile of its own; it stops with
// the test.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	require.NoError(t, err, "the UI tests need Debian's chromium (apt-get install chromium)")
	cmdR, cmdW, err := os.Pipe() // commands: we write, Chromium reads fd 3
	require.NoError(t, err)
	ansR, ansW, err := os.Pipe() // answers: Chromium writes fd 4, we read
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, ansW}
	require.NoError(t, cmd.Start())
	cmdR.Close()
	ansW.Close()
	b := &browser{t: t, toChrome: cmdW, waiting: map[int]chan cdpAnswer{}}
	read := make(chan struct{})
	go func() {
		defer close(read)
		r := bufio.NewReader(ansR)
		for {
			msg, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var m struct {
				ID int `json:"id"`
				cdpAnswer
			}
			if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
				continue // an event
			}
			b.mu.Lock()
			ch := b.waiting[m.ID]
			delete(b.waiting, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m.cdpAnswer
			}
		}
	}()
	t.Cleanup(func() {
		cmdW.Close() // Chromium exits when its pipe closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
		ansR.Close()
		<-read
	})
	return b
}

// call sends one command (to a page's session, or to the browser with
// session "") and returns its result.
func (b *browser) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpAnswer, 1)
	b.waiting[id] = ch
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	raw, _ := json.Marshal(msg)
	_, err := b.toChrome.Write(append(raw, 0))
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		if a.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, a.Error.Message)
		}
		return a.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is one tab.
type page struct {
	b       *browser
	target  string
	session string
}

// open opens url in a new tab.
func (b *browser) open(ctx context.Context, url string) *page {
	b.t.Helper()
	res, err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	require.NoError(b.t, err)
	var target struct{ TargetID string }
	require.NoError(b.t, json.Unmarshal(res, &target))
	res, err = b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true})
	require.NoError(b.t, err)
	var att struct{ SessionID string }
	require.NoError(b.t, json.Unmarshal(res, &att))
	p := &page{b: b, target: target.TargetID, session: att.SessionID}
	_, err = b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url})
	require.NoError(b.t, err)
	return p
}

// url is the address of the document the tab shows, as the browser
// knows it.
func (p *page) url(ctx context.Context) (string, error) {
	res, err := p.b.call(ctx, "", "Target.getTargetInfo", map[string]any{"targetId": p.target})
	if err != nil {
		return "", err
	}
	var info struct {
		TargetInfo struct{ URL string } `json:"targetInfo"`
	}
	err = json.Unmarshal(res, &info)
	return info.TargetInfo.URL, err
}

// eval runs a script in the page (awaiting its promise) and decodes its
// value into out, if out is not nil.
func (p *page) eval(ctx context.Context, script string, out any) error {
	res, err := p.b.call(ctx, p.session, "Runtime.evaluate",
		map[string]any{"expression": script, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return errors.New(e.Text + " " + e.Exception.Description)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// waitFor polls a boolean script in the page until it is true.
func (p *page) waitFor(ctx context.Context, script, what string) {
	p.b.t.Helper()
	var last error
	for {
		var ok bool
		if last = p.eval(ctx, script, &ok); last == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			p.b.t.Fatalf("%s: not before the deadline (last error: %v)", what, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
