package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOfflineHTMLDropsOtherSitesLinks(t *testing.T) {
	t.Parallel()
	in := `<head><link rel="icon" href="/ui/favicon.ico"/>` +
		`<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto:300&display=swap"/>` +
		"<LINK\n rel=stylesheet HREF='http://cdn.example/x.css'>" +
		`<link rel="stylesheet" href=//cdn.example/y.css>` +
		`<link rel="manifest" href="/ui/manifest.json"/><link data-x="a" href="static/site.css"></head>`
	want := `<head><link rel="icon" href="/ui/favicon.ico"/>` +
		`<link rel="manifest" href="/ui/manifest.json"/><link data-x="a" href="static/site.css"></head>`
	require.Equal(t, want, string(offlineHTML([]byte(in))))
}

func TestOfflineJSUnlinksOtherSites(t *testing.T) {
	t.Parallel()
	in := `x(v.a,{button:!0,component:"a",href:"https://github.com/hibiken/asynqmon/issues",target:"_blank",` +
		`children:[x(k.a,{primary:"Send Feedback"})]});` +
		`x(Ul.a,{href:"https://redis.io/commands/info",target:"_",children:"INFO"});` +
		`x(Ul.a,{href:'HTTP://redis.io/x',children:"X"});x(Ul.a,{href:"//cdn.example/y",children:"Y"});` +
		`x(Yr,{href:"/ui/settings"});throw Error("see https://reactjs.org/docs/error-decoder.html")`
	got := string(offlineJS([]byte(in), "/console/"))
	require.Equal(t, `x(v.a,{button:!0,component:"a",href:"/console/",children:[x(k.a,{primary:"resetq console"})]});`+
		`x(Ul.a,{href:void 0,target:"_",children:"INFO"});`+
		`x(Ul.a,{href:void 0,children:"X"});x(Ul.a,{href:void 0,children:"Y"});`+
		`x(Yr,{href:"/ui/settings"});throw Error("see https://reactjs.org/docs/error-decoder.html")`, got)

	// Without a console, the feedback entry keeps its text and links nowhere.
	got = string(offlineJS([]byte(in), ""))
	require.Contains(t, got, `href:void 0,target:"_blank",children:[x(k.a,{primary:"Send Feedback"})]`)
	require.NotContains(t, got, "github.com")
}

// TestOfflineUIRewritesOnlyPagesAndScripts serves answers as asynqmon
// does (its index and JSON declare no type) through offlineUI.
func TestOfflineUIRewritesOnlyPagesAndScripts(t *testing.T) {
	t.Parallel()
	png := append([]byte("\x89PNG\r\n\x1a\n"), []byte(`href:"https://x.example/"`)...)
	mux := http.NewServeMux()
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`<!doctype html><html><head><link rel="stylesheet" href="https://fonts.googleapis.com/icon"/>`))
		_, _ = w.Write([]byte(`</head><body><div id="root"></div></body></html>`))
	})
	mux.HandleFunc("/ui/main.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("Content-Type", "application/javascript; charset=utf-8")
		_, _ = w.Write([]byte(`a({href:"https://redis.io/commands/info"})`))
	})
	mux.HandleFunc("/ui/logo.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("Content-Type", "image/png")
		_, _ = w.Write(png)
	})
	mux.HandleFunc("/ui/api/queues", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"href": "https://x.example/<html>"})
	})
	mux.HandleFunc("/ui/gone.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("Content-Type", "text/javascript")
		w.WriteHeader(http.StatusGone)
		_, _ = w.Write([]byte(`{href:"https://x.example/"}`))
	})
	mux.HandleFunc("/ui/empty", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(offlineUI(mux, "/console/"))
	t.Cleanup(srv.Close)

	get := func(method, path string) (*http.Response, string) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, uiCSP, res.Header.Get("Content-Security-Policy"), path)
		return res, string(b)
	}
	res, body := get("GET", "/ui/")
	require.Equal(t, `<!doctype html><html><head></head><body><div id="root"></div></body></html>`, body)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, int64(len(body)), res.ContentLength)
	res, body = get("HEAD", "/ui/")
	require.Equal(t, int64(len(`<!doctype html><html><head></head><body><div id="root"></div></body></html>`)), res.ContentLength)
	require.Empty(t, body)

	res, body = get("GET", "/ui/main.js")
	require.Equal(t, `a({href:void 0})`, body)
	require.Equal(t, "application/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, int64(len(body)), res.ContentLength)

	res, body = get("GET", "/ui/gone.js")
	require.Equal(t, http.StatusGone, res.StatusCode)
	require.Equal(t, `{href:void 0}`, body)

	res, body = get("GET", "/ui/logo.png")
	require.Equal(t, string(png), body, "images pass as they are")
	require.Equal(t, "image/png", res.Header.Get("Content-Type"))

	res, body = get("GET", "/ui/api/queues")
	require.JSONEq(t, `{"href":"https://x.example/<html>"}`, body, "JSON passes as it is")
	require.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"), "net/http sniffs it, as without offlineUI")

	res, _ = get("GET", "/ui/empty")
	require.Equal(t, http.StatusNoContent, res.StatusCode)
}

// uiAttrURL matches an href or src attribute and its value.
var uiAttrURL = regexp.MustCompile(`(?is)\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)

// uiJSRemoteHref is an absolute href left in a bundle.
var uiJSRemoteHref = regexp.MustCompile("(?i)href\\s*:\\s*[\"'`]\\s*(?:https?:)?//")

// TestQueueUIIsServedOffline loads the real queue UI as a browser would
// (its page and every script the page names) and finds no address of
// another site to load or follow, its feedback entry leading to the
// console, and a Content-Security-Policy that would stop anything else.
func TestQueueUIIsServedOffline(t *testing.T) {
	t.Parallel()
	w, _ := uiWorker(t, "http: {listen: \"127.0.0.1:0\"}\n")
	base, err := url.Parse("http://" + w.listener.Addr + "/ui/")
	require.NoError(t, err)
	get := func(u string) (*http.Response, string) {
		res, err := http.Get(u)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", u, b)
		requireOfflineCSP(t, res.Header, u)
		return res, string(b)
	}

	res, page := get(base.String())
	require.Contains(t, page, "<title>Asynq - Monitoring</title>", "still the Asynq UI")
	require.Contains(t, page, `<div id="root"></div>`)
	require.Contains(t, res.Header.Get("Content-Type"), "text/html")
	require.Equal(t, int64(len(page)), res.ContentLength)
	require.Equal(t, "DENY", res.Header.Get("X-Frame-Options"), "the listener's headers stay")
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	require.NotContains(t, page, "fonts.googleapis.com")

	var scripts []string
	for _, m := range uiAttrURL.FindAllStringSubmatch(page, -1) {
		ref := m[1] + m[2] + m[3]
		u, err := base.Parse(strings.TrimSpace(ref))
		require.NoError(t, err, ref)
		require.Equal(t, base.Host, u.Host, "the page links %s", ref)
		if strings.Contains(m[0], "src") {
			scripts = append(scripts, u.String())
		}
	}
	require.GreaterOrEqual(t, len(scripts), 2, "asynqmon's page loads its bundle: %s", page)

	var console, feedback bool
	for _, s := range scripts {
		res, js := get(s)
		require.Contains(t, res.Header.Get("Content-Type"), "javascript", s)
		require.Equal(t, int64(len(js)), res.ContentLength, s)
		require.Empty(t, uiJSRemoteHref.FindAllString(js, -1), "%s links another site", s)
		require.NotContains(t, js, "redis.io", s)
		require.NotContains(t, js, "github.com/hibiken/asynqmon", s)
		console = console || strings.Contains(js, `href:"/console/"`) && strings.Contains(js, `primary:"resetq console"`)
		feedback = feedback || strings.Contains(js, "Send Feedback")
	}
	require.True(t, console, "the feedback entry leads to the console: has asynqmon's bundle changed?")
	require.False(t, feedback)

	// The API and the images pass as they are, under the same policy.
	_, body := get(base.String() + "api/queues")
	var queues struct{ Queues []json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(body), &queues), body)
	require.Len(t, queues.Queues, 3)
	res, _ = get(base.String() + "favicon-32x32.png")
	require.Equal(t, "image/png", res.Header.Get("Content-Type"))
}

// requireOfflineCSP checks that the answer's one policy lets the page
// load from its own origin only.
func requireOfflineCSP(t *testing.T, h http.Header, what string) {
	t.Helper()
	policies := h.Values("Content-Security-Policy")
	require.Len(t, policies, 1, what)
	directives := map[string][]string{}
	for _, d := range strings.Split(policies[0], ";") {
		f := strings.Fields(d)
		require.NotEmpty(t, f, what)
		directives[f[0]] = f[1:]
	}
	require.Equal(t, []string{"'self'"}, directives["default-src"], what)
	require.Equal(t, []string{"'none'"}, directives["frame-ancestors"], what)
	for name, sources := range directives {
		for _, s := range sources {
			require.Contains(t, []string{"'self'", "'none'", "'unsafe-inline'", "data:"}, s, "%s: %s allows %s", what, name, s)
		}
	}
	for _, name := range []string{"script-src", "style-src", "img-src", "font-src", "connect-src", "base-uri", "form-action"} {
		require.Contains(t, directives, name, what)
	}
}

// TestQueueUILoadsNothingFromAnotherSite opens the queue UI in headless
// Chromium and checks, as the page renders its dashboard and its Redis
// page, that it fetched nothing from another origin, that the policy
// blocked no attempt to, and that no link on it leads elsewhere but to
// the console.
func TestQueueUILoadsNothingFromAnotherSite(t *testing.T) {
	t.Parallel()
	w, _ := uiWorker(t, "http: {listen: \"127.0.0.1:0\"}\n")
	ui := "http://" + w.listener.Addr + "/ui/"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := startBrowser(t)
	p := b.open(ctx, "about:blank")
	// Every load the policy blocks is recorded, from the page's start.
	_, err := b.call(ctx, p.session, "Page.enable", map[string]any{})
	require.NoError(t, err)
	_, err = b.call(ctx, p.session, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": `
		window.__blocked = [];
		document.addEventListener("securitypolicyviolation", e => window.__blocked.push(e.violatedDirective + " " + e.blockedURI), true);`})
	require.NoError(t, err)

	offsite := `(() => {
		const away = u => { try { return new URL(u, location.href).origin !== location.origin } catch (e) { return true } };
		const loaded = performance.getEntriesByType("resource").map(e => e.name).filter(away);
		const linked = [...document.querySelectorAll("[href],[src]")].map(e => e.getAttribute("href") || e.getAttribute("src")).filter(away);
		return {loaded, linked, blocked: window.__blocked};
	})()`
	check := func(what string) {
		t.Helper()
		// Let what the page started settle.
		require.NoError(t, p.eval(ctx, `new Promise(r => setTimeout(r, 500))`, nil))
		var got struct{ Loaded, Linked, Blocked []string }
		require.NoError(t, p.eval(ctx, offsite, &got))
		require.NotNil(t, got.Blocked, "%s: the recorder of blocked loads did not run", what)
		require.Empty(t, got.Loaded, "%s fetched from another site", what)
		require.Empty(t, got.Linked, "%s links another site", what)
		require.Empty(t, got.Blocked, "%s tried to load from another site", what)
	}

	_, err = b.call(ctx, p.session, "Page.navigate", map[string]any{"url": ui})
	require.NoError(t, err)
	p.waitFor(ctx, `document.body && document.body.innerText.includes("resetq-corp")`, "the dashboard lists the queues")
	var console bool
	require.NoError(t, p.eval(ctx, `[...document.querySelectorAll('a[href="/console/"]')].some(a => a.innerText.includes("resetq console") && !a.target)`, &console))
	require.True(t, console, "the menu has the console in this tab")
	check("the dashboard")

	_, err = b.call(ctx, p.session, "Page.navigate", map[string]any{"url": ui + "redis"})
	require.NoError(t, err)
	p.waitFor(ctx, `[...document.querySelectorAll("a")].some(a => a.innerText === "INFO")`, "the Redis page shows INFO's output")
	var href bool
	require.NoError(t, p.eval(ctx, `[...document.querySelectorAll("a")].find(a => a.innerText === "INFO").hasAttribute("href")`, &href))
	require.False(t, href, "INFO no longer links redis.io")
	check("the Redis page")

	// The checks can fail: a stylesheet of another site is refused.
	require.NoError(t, p.eval(ctx, `(() => { const l = document.createElement("link"); l.rel = "stylesheet";
		l.href = "https://fonts.googleapis.com/css?family=Roboto"; document.head.appendChild(l) })()`, nil))
	p.waitFor(ctx, `window.__blocked.some(b => b.includes("fonts.googleapis.com"))`, "the policy blocks another site's stylesheet")
}
