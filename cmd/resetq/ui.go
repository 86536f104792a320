package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"

	"github.com/hibiken/asynqmon"

	"github.com/resetq/resetq/internal/config"
)

// hiddenUser stands in the queue UI for a user's address, name or id.
const hiddenUser = "[hidden: log.include_user is off]"

// uiPayloadFormatter shows task payloads in the queue UI as the logs show
// users: without their address, name or id unless log.include_user. It
// hides every "user" object in the payload, wherever it is nested (a
// reset's payload, a webhook delivery's body), so a new task type cannot
// leak one by accident; a payload that is not JSON is not shown at all.
func uiPayloadFormatter(includeUser bool) asynqmon.PayloadFormatter {
	return asynqmon.PayloadFormatterFunc(func(_ string, payload []byte) string {
		if includeUser {
			return string(payload)
		}
		var v any
		if err := json.Unmarshal(payload, &v); err != nil {
			return fmt.Sprintf("[%d bytes, not shown]", len(payload))
		}
		b, err := json.Marshal(hideUsers(v))
		if err != nil {
			return fmt.Sprintf("[%d bytes, not shown]", len(payload))
		}
		return string(b)
	})
}

// hideUsers replaces the fields of every "user" object but a keyed hash
// (a webhook body's "ref").
func hideUsers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if u, ok := e.(map[string]any); ok && k == "user" {
				for f := range u {
					if f != "ref" {
						u[f] = hiddenUser
					}
				}
				continue
			}
			t[k] = hideUsers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = hideUsers(e)
		}
	}
	return v
}

// uiHosts are the names besides IP addresses and localhost that the UI
// answers to: the listen address's own, and http.allowed_hosts.
func uiHosts(h config.HTTP) []string {
	hosts := append([]string{}, h.AllowedHosts...)
	if host, _, err := net.SplitHostPort(h.Listen); err == nil && host != "" {
		hosts = append(hosts, host)
	}
	return hosts
}

// uiCSP lets the queue UI's pages load nothing from another origin: the
// UI is served without the internet. asynqmon's index has inline script
// and Material-UI injects its styles, hence 'unsafe-inline'. It includes
// the listener's frame-ancestors 'none', which it replaces.
const uiCSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; " +
	"base-uri 'self'; form-action 'self'"

var (
	// uiLinkTag is a <link>, and uiRemoteHref its href when that is an
	// absolute http(s) or scheme-relative URL: another site's, as the
	// build cannot know ours (asynqmon's Google Fonts stylesheets).
	uiLinkTag    = regexp.MustCompile(`(?is)<link\b[^>]*>`)
	uiRemoteHref = regexp.MustCompile(`(?is)\shref\s*=\s*["']?\s*(?:https?:)?//`)
	// uiRemoteHrefJS is an anchor's absolute href in the minified bundle:
	// {href:"https://redis.io/commands/info",...}.
	uiRemoteHrefJS = regexp.MustCompile(`href:(?:"(?i:https?:)?//[^"]*"|'(?i:https?:)?//[^']*')`)
)

// The "Send Feedback" entry of asynqmon's menu, which opens its GitHub
// issues in a new tab.
const (
	uiFeedbackHref = `href:"https://github.com/hibiken/asynqmon/issues",target:"_blank"`
	uiFeedbackText = `primary:"Send Feedback"`
)

// offlineUI serves the queue UI without the internet: its pages load
// nothing from another site (the CSP, and the index without its Google
// Fonts links), and its links to GitHub and redis.io lead nowhere, but
// for "Send Feedback", which becomes a link to console (if not empty).
// Only HTML and JavaScript answers are buffered and rewritten; the API's
// JSON and the images pass through.
func offlineUI(h http.Handler, console string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", uiCSP)
		ow := &offlineWriter{ResponseWriter: w, console: console}
		h.ServeHTTP(ow, r)
		ow.finish()
	})
}

// What offlineWriter does with an answer, decided on its first byte.
const (
	uiUndecided = iota
	uiPass
	uiHTML
	uiJS
)

// offlineWriter holds an answer's status until its type is known, then
// passes it through or buffers it to rewrite it in finish.
type offlineWriter struct {
	http.ResponseWriter
	console string
	status  int
	kind    int
	sniffed string // the type of a buffered answer that declared none
	buf     bytes.Buffer
}

func (w *offlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *offlineWriter) WriteHeader(code int) {
	switch {
	case w.kind == uiPass:
		w.ResponseWriter.WriteHeader(code)
	case w.kind == uiUndecided && w.status == 0:
		w.status = code
		if w.Header().Get("Content-Type") != "" {
			w.decide(nil)
		}
	}
}

func (w *offlineWriter) Write(p []byte) (int, error) {
	if w.kind == uiUndecided {
		w.decide(p)
	}
	if w.kind == uiPass {
		return w.ResponseWriter.Write(p)
	}
	return w.buf.Write(p)
}

// decide sorts the answer by its declared type or, as asynqmon declares
// none for its index (and its JSON), by its first bytes p.
func (w *offlineWriter) decide(p []byte) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	ct := w.Header().Get("Content-Type")
	if ct == "" && p != nil {
		ct = http.DetectContentType(p)
		w.sniffed = ct
	}
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case w.Header().Get("Content-Encoding") != "":
		w.kind = uiPass
	case mt == "text/html":
		w.kind = uiHTML
	case mt == "application/javascript" || mt == "text/javascript" || mt == "application/x-javascript":
		w.kind = uiJS
	default:
		w.kind = uiPass
	}
	if w.kind == uiPass {
		w.sniffed = ""
		w.ResponseWriter.WriteHeader(w.status)
	}
}

// finish sends a buffered answer, rewritten, or the status of one
// without a body.
func (w *offlineWriter) finish() {
	switch w.kind {
	case uiUndecided:
		if w.status != 0 {
			w.ResponseWriter.WriteHeader(w.status)
		}
		return
	case uiPass:
		return
	}
	body := w.buf.Bytes()
	if w.kind == uiHTML {
		body = offlineHTML(body)
	} else {
		body = offlineJS(body, w.console)
	}
	hd := w.Header()
	if w.sniffed != "" {
		hd.Set("Content-Type", w.sniffed)
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(body)
}

// offlineHTML drops the <link>s to other sites: asynqmon's Google Fonts
// (the UI falls back to the browser's sans-serif).
func offlineHTML(b []byte) []byte {
	return uiLinkTag.ReplaceAllFunc(b, func(tag []byte) []byte {
		if uiRemoteHref.Match(tag) {
			return nil
		}
		return tag
	})
}

// offlineJS points the "Send Feedback" entry at console, in this tab, and
// takes every other absolute href out of the bundle's anchors, which keep
// their text.
func offlineJS(b []byte, console string) []byte {
	if console != "" && bytes.Contains(b, []byte(uiFeedbackHref)) {
		href, _ := json.Marshal(console)
		b = bytes.ReplaceAll(b, []byte(uiFeedbackHref), append([]byte("href:"), href...))
		b = bytes.ReplaceAll(b, []byte(uiFeedbackText), []byte(`primary:"resetq console"`))
	}
	return uiRemoteHrefJS.ReplaceAll(b, []byte("href:void 0"))
}
