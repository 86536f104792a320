package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/campaigns"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/internal/testhttp"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/producer/httpapi"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

const (
	appToken = "app-token-0123456789abcdef"  // resets
	opsToken = "ops-token-0123456789abcdef"  // resets, outcomes, campaigns
	kcSecret = "httpapi-test-secret-0123456" // the emulated Keycloak's
)

// exchange is one request the API served, and its answer.
type exchange struct {
	method, target string
	header         http.Header
	body           []byte
	status         int
	respHeader     http.Header
	respBody       []byte
}

// recorder keeps every exchange, to check them all against the OpenAPI
// document.
type recorder struct {
	h  http.Handler
	mu sync.Mutex
	ex []exchange
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rw := httptest.NewRecorder()
	rec.h.ServeHTTP(rw, r)
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rw.Code)
	_, _ = w.Write(rw.Body.Bytes())
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.ex = append(rec.ex, exchange{method: r.Method, target: r.URL.RequestURI(), header: r.Header.Clone(), body: body,
		status: rw.Code, respHeader: rw.Header().Clone(), respBody: rw.Body.Bytes()})
}

type env struct {
	url    string
	client *producer.Client
	kc     *keycloaktest.Server
	rec    *recorder
}

// setup runs what a deployment runs: Redis, a worker against an emulated
// Keycloak realm with one user (alice), a feeder, and the API.
func setup(t *testing.T, maxUpload int64) *env {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	kc := keycloaktest.NewServer()
	t.Cleanup(kc.Close)
	kc.AddServiceAccount("corp", "resetq", kcSecret)
	kc.AddUser("corp", keycloaktest.User{Username: "alice", Email: "alice@example.com", Enabled: true})
	kp, err := keycloak.New(keycloak.Config{BaseURL: kc.URL(), Realm: "corp", ClientID: "resetq", ClientSecret: kcSecret})
	require.NoError(t, err)
	w, err := worker.New(worker.Config{Redis: rdb, PollInterval: 20 * time.Millisecond, Providers: []worker.Provider{{Name: "corp", IdP: kp}}})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)

	client, err := producer.NewClient(producer.Config{Redis: rdb, Providers: []producer.Provider{
		{Name: "corp", Type: "keycloak", MaxRetries: 3}, {Name: "licensing", Type: "keygen", UserRefs: []string{"email"}, MaxRetries: 3}}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	// The workers' feeder, as cmd/resetq runs it.
	f := campaigns.NewManager(campaigns.Config{Redis: rdb, Providers: []campaigns.Provider{
		{Name: "corp", MaxRetries: 3}, {Name: "licensing", EmailOnly: true, MaxRetries: 3}}}).
		NewFeeder(campaigns.FeederConfig{Interval: 20 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	e := serve(t, httpapi.Config{Client: client, MaxUpload: maxUpload})
	e.kc = kc
	return e
}

// serve runs the API with cfg and, unless it has its own, two tokens, app
// (resets) and ops (every scope), and checks every exchange against the document when the test
// ends.
func serve(t *testing.T, cfg httpapi.Config) *env {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = []httpapi.Token{
			{Name: "app", Secret: appToken, Scopes: []string{httpapi.ScopeResets}},
			{Name: "ops", Secret: opsToken, Scopes: []string{httpapi.ScopeResets, httpapi.ScopeOutcomes, httpapi.ScopeCampaigns}},
		}
	}
	api, err := httpapi.New(cfg)
	require.NoError(t, err)
	rec := &recorder{h: api}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	e := &env{url: srv.URL, client: cfg.Client, rec: rec}
	t.Cleanup(func() { e.checkContract(t) })
	return e
}

// call makes one request and returns the status, headers and body.
func (e *env) call(t *testing.T, method, path, token, contentType string, body io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		raw, err = io.ReadAll(body)
		require.NoError(t, err)
	}
	var h []string
	if token != "" {
		h = append(h, "Authorization", "Bearer "+token)
	}
	if contentType != "" {
		h = append(h, "Content-Type", contentType)
	}
	a := testhttp.Do(t, method, e.url+path, string(raw), append(h, header...)...)
	return a.Status, a.Header, []byte(a.Body)
}

func (e *env) json(t *testing.T, method, path, token string, body any, header ...string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	return e.call(t, method, path, token, "application/json", r, header...)
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return v
}

func problem(t *testing.T, h http.Header, b []byte) httpapi.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", h.Get("Content-Type"))
	return decode[httpapi.Problem](t, b)
}

// refused sends body as JSON, as json does, and returns the problem the
// API answers with the status it must refuse it with.
func (e *env) refused(t *testing.T, status int, method, path, token string, body any, header ...string) httpapi.Problem {
	t.Helper()
	code, h, b := e.json(t, method, path, token, body, header...)
	require.Equal(t, status, code, "%s", b)
	return problem(t, h, b)
}

// checkContract validates every exchange against docs/openapi.yaml: every
// answer, and every request the API accepted.
func (e *env) checkContract(t *testing.T) {
	router := loadSpec(t)
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	require.NotEmpty(t, e.rec.ex)
	for _, x := range e.rec.ex {
		req, err := http.NewRequest(x.method, x.target, bytes.NewReader(x.body))
		require.NoError(t, err)
		req.Header = x.header
		route, params, err := router.FindRoute(req)
		if err != nil {
			require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, x.status,
				"%s %s is not in the document", x.method, x.target)
			require.Equal(t, "application/problem+json", x.respHeader.Get("Content-Type"))
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
				SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}}}
		if x.status < 400 {
			require.NoError(t, openapi3filter.ValidateRequest(context.Background(), in),
				"request %s %s: %s", x.method, x.target, x.body)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.respHeader,
			Body: io.NopCloser(bytes.NewReader(x.respBody)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true,
				SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}}}
		require.NoError(t, openapi3filter.ValidateResponse(context.Background(), out),
			"answer %d to %s %s: %s", x.status, x.method, x.target, x.respBody)
	}
}

var specOnce struct {
	sync.Once
	doc *openapi3.T
	err error
}

func loadSpec(t *testing.T) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("application/jsonl", openapi3filter.PlainBodyDecoder)
		specOnce.doc, specOnce.err = openapi3.NewLoader().LoadFromFile("../../docs/openapi.yaml")
		if specOnce.err == nil {
			specOnce.err = specOnce.doc.Validate(context.Background())
		}
	})
	require.NoError(t, specOnce.err)
	doc := *specOnce.doc
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := legacy.NewRouter(&doc)
	require.NoError(t, err)
	return router
}

func TestTheDocumentIsValidOpenAPI31(t *testing.T) {
	loadSpec(t)
	require.Equal(t, "3.1.0", specOnce.doc.OpenAPI)
	require.True(t, specOnce.doc.IsOpenAPI31OrLater())
}

func TestAnIdempotencyKeyReusedForAnotherUserIsAConflict(t *testing.T) {
	t.Parallel()
	e := setup(t, 1<<20)
	alice := map[string]any{"provider": "corp", "user": map[string]string{"email": "alice@example.com"}, "meta": map[string]string{"ticket": "HD-1"}}
	bob := map[string]any{"provider": "corp", "user": map[string]string{"email": "bob@example.com"}, "meta": map[string]string{"ticket": "HD-1"}}
	code, _, b := e.json(t, "POST", "/v1/resets", appToken, alice, "Idempotency-Key", "KEY-1")
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	first := decode[httpapi.ResetAccepted](t, b)

	code, h, b := e.json(t, "POST", "/v1/resets", appToken, bob, "Idempotency-Key", "KEY-1")
	require.Equal(t, http.StatusConflict, code, "another user under a used key: %s", b)
	p := problem(t, h, b)
	require.Equal(t, httpapi.ProblemTypePrefix+"idempotency-conflict", p.Type)
	require.Equal(t, "Idempotency key already used", p.Title)
	require.Contains(t, p.Detail, `"KEY-1"`)
	require.NotContains(t, string(b), "bob")
	require.NotContains(t, string(b), "alice")
	require.NotContains(t, string(b), first.ID, "the other request's task is not named")

	code, _, b = e.json(t, "POST", "/v1/resets", appToken, alice, "Idempotency-Key", "KEY-1")
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	again := decode[httpapi.ResetAccepted](t, b)
	require.True(t, again.Duplicate, "the same request is still a duplicate")
	require.Equal(t, first.ID, again.ID)
}

func TestIdempotencyKeysAreScopedToTheToken(t *testing.T) {
	t.Parallel()
	e := setup(t, 1<<20)
	ids := map[string]bool{}
	for _, tok := range []string{appToken, opsToken} {
		for _, email := range []string{"alice@example.com", "bob@example.com"} {
			body := map[string]any{"provider": "corp", "user": map[string]string{"email": email}}
			code, _, b := e.json(t, "POST", "/v1/resets", tok, body, "Idempotency-Key", "KEY-"+email)
			require.Equal(t, http.StatusAccepted, code, "%s", b)
			acc := decode[httpapi.ResetAccepted](t, b)
			require.False(t, acc.Duplicate, "one token's key is not another's")
			ids[acc.ID] = true
		}
	}
	require.Len(t, ids, 4)
	// Without a token's scope (the Go client, the CLI), the key is new too.
	res, err := e.client.Enqueue(context.Background(), producer.Request{Provider: "corp",
		User: tasks.User{Email: "alice@example.com"}, IdempotencyKey: "KEY-alice@example.com"})
	require.NoError(t, err)
	require.False(t, res.Duplicate)
	require.False(t, ids[res.TaskID])
}

func TestResetsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setup(t, 1<<20)
	body := map[string]any{"provider": "corp", "user": map[string]string{"email": "alice@example.com"}, "meta": map[string]string{"ticket": "HD-1"}}
	code, h, b := e.json(t, "POST", "/v1/resets", appToken, body, "Idempotency-Key", "HD-1")
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	acc := decode[httpapi.ResetAccepted](t, b)
	require.False(t, acc.Duplicate)
	require.Equal(t, "/v1/resets/"+acc.ID, h.Get("Location"))

	code, _, b = e.json(t, "POST", "/v1/resets", appToken, body, "Idempotency-Key", "HD-1")
	require.Equal(t, http.StatusAccepted, code)
	again := decode[httpapi.ResetAccepted](t, b)
	require.True(t, again.Duplicate)
	require.Equal(t, acc.ID, again.ID)

	// A user who does not exist gets the very same answer.
	nobody := map[string]any{"provider": "corp", "user": map[string]string{"email": "nobody@example.com"}}
	code, _, nb := e.json(t, "POST", "/v1/resets", appToken, nobody)
	require.Equal(t, http.StatusAccepted, code)
	miss := decode[httpapi.ResetAccepted](t, nb)
	require.Equal(t, []string{"duplicate", "id", "status_url"}, keys(t, nb), "the same fields as for alice")

	status := func(token, id string) httpapi.ResetStatus {
		code, _, b := e.json(t, "GET", "/v1/resets/"+id, token, nil)
		require.Equal(t, http.StatusOK, code, "%s", b)
		return decode[httpapi.ResetStatus](t, b)
	}
	require.Eventually(t, func() bool {
		return status(opsToken, acc.ID).State == "done" && status(opsToken, miss.ID).State == "done"
	}, 20*time.Second, 20*time.Millisecond)

	ops := status(opsToken, acc.ID)
	require.Equal(t, "succeeded", ops.Outcome)
	require.Equal(t, 1, ops.Attempts)
	require.False(t, ops.FinishedAt.IsZero())
	require.Equal(t, "skipped", status(opsToken, miss.ID).Outcome)
	require.Equal(t, "user_not_found", status(opsToken, miss.ID).Reason)
	// Without the outcomes scope, both look the same: done.
	// Each says who asked: the token, from where.
	app := &tasks.Requester{Actor: "api:app", Address: "127.0.0.1"}
	a, n := status(appToken, acc.ID), status(appToken, miss.ID)
	require.Equal(t, httpapi.ResetStatus{ID: acc.ID, State: "done", FinishedAt: a.FinishedAt, Requester: app}, a)
	require.Equal(t, httpapi.ResetStatus{ID: miss.ID, State: "done", FinishedAt: n.FinishedAt, Requester: app}, n)
	require.Equal(t, app, ops.Requester, "whoever reads it")
	require.Equal(t, 1, e.kc.TotalResets(), "one email, for alice")

	// Wrong requests get problems that say what is wrong.
	code, h, b = e.json(t, "POST", "/v1/resets", appToken, map[string]any{"provider": "corp", "user": map[string]string{"email": "not-an-email"}})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	p := problem(t, h, b)
	require.Equal(t, "urn:resetq:problem:invalid-request", p.Type)
	require.Contains(t, p.Detail, "user.email")
	require.Contains(t, e.refused(t, http.StatusUnprocessableEntity, "POST", "/v1/resets", appToken, map[string]any{"provider": "okta", "user": map[string]string{"email": "a@example.com"}}).Detail, `provider "okta" is not configured`)
	require.Contains(t, e.refused(t, http.StatusBadRequest, "POST", "/v1/resets", appToken, map[string]any{"provider": "corp", "user": map[string]string{"email": "a@example.com"}, "urgent": true}).Detail, `unknown field "urgent"`)
	code, h, b = e.call(t, "POST", "/v1/resets", appToken, "application/json", strings.NewReader(`{"provider":`))
	require.Equal(t, http.StatusBadRequest, code)
	problem(t, h, b)
	code, h, b = e.call(t, "POST", "/v1/resets", appToken, "text/plain", strings.NewReader(`alice@example.com`))
	require.Equal(t, http.StatusUnsupportedMediaType, code)
	problem(t, h, b)
	huge := map[string]any{"provider": "corp", "user": map[string]string{"email": "a@example.com"},
		"meta": map[string]string{"blob": strings.Repeat("x", 70<<10)}}
	require.Contains(t, e.refused(t, http.StatusRequestEntityTooLarge, "POST", "/v1/resets", appToken, huge).Detail, "65536 bytes")
	e.refused(t, http.StatusNotFound, "GET", "/v1/resets/r-00000000000000000000000000000000", appToken, nil)
	e.refused(t, http.StatusNotFound, "GET", "/v1/resets/nonsense", appToken, nil)
}

func keys(t *testing.T, b []byte) []string {
	t.Helper()
	m := decode[map[string]any](t, b)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestOnlyTokensGetIn(t *testing.T) {
	t.Parallel()
	e := setup(t, 1<<20)
	body := map[string]any{"provider": "corp", "user": map[string]string{"email": "alice@example.com"}}
	for name, token := range map[string]string{"none": "", "wrong": "app-token-0123456789abcdeX", "prefix": appToken[:10]} {
		code, h, b := e.json(t, "POST", "/v1/resets", token, body)
		require.Equal(t, http.StatusUnauthorized, code, name)
		require.Equal(t, `Bearer realm="resetq"`, h.Get("WWW-Authenticate"))
		require.Equal(t, "urn:resetq:problem:unauthorized", problem(t, h, b).Type)
	}
	code, h, b := e.call(t, "POST", "/v1/resets", "", "application/json", strings.NewReader(`{}`), "Authorization", "Basic YTpi")
	require.Equal(t, http.StatusUnauthorized, code)
	problem(t, h, b)

	require.Contains(t, e.refused(t, http.StatusForbidden, "GET", "/v1/campaigns", appToken, nil).Detail, `token "app" lacks the campaigns scope`)
	code, h, b = e.json(t, "DELETE", "/v1/campaigns", opsToken, nil)
	require.Equal(t, http.StatusMethodNotAllowed, code)
	require.Equal(t, "GET, POST", h.Get("Allow"))
	problem(t, h, b)
	e.refused(t, http.StatusNotFound, "GET", "/v1/nothing", opsToken, nil)
	require.Zero(t, e.kc.TotalResets())
}

// RFC 9110: the scheme of an Authorization header is case-insensitive.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	e := setup(t, 1<<20)
	for _, scheme := range []string{"bearer", "BEARER", "bEaReR", "Bearer"} {
		code, h, b := e.call(t, "GET", "/v1/campaigns", "", "", nil, "Authorization", scheme+" "+opsToken)
		require.Equal(t, http.StatusOK, code, "%s: %s", scheme, b)
		require.Equal(t, "no-store", h.Get("Cache-Control"), "campaigns carry users")
	}
	code, _, _ := e.call(t, "GET", "/v1/campaigns", "", "", nil, "Authorization", "Bearer"+opsToken)
	require.Equal(t, http.StatusUnauthorized, code, "a scheme and its token are separated by a space")
}

// multipartBody builds a campaign upload.
func multipartBody(t *testing.T, filename, content string, fields ...string) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(t, mw.WriteField(fields[i], fields[i+1]))
	}
	fw, err := mw.CreateFormFile("file", filename)
	require.NoError(t, err)
	_, err = io.WriteString(fw, content)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	return mw.FormDataContentType(), &buf
}

func TestCampaignsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setup(t, 1<<20)
	csvBad := "email,ticket\nalice@example.com,T-1\nnot-an-email,T-2\nbob@example.com,T-3\nALICE@example.com,T-4\n"

	ct, body := multipartBody(t, "breach.csv", csvBad, "provider", "corp", "name", "breach")
	code, h, b := e.call(t, "POST", "/v1/campaigns", opsToken, ct, body)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	p := problem(t, h, b)
	require.Equal(t, "urn:resetq:problem:invalid-rows", p.Type)
	require.Equal(t, 1, p.Invalid)
	require.Len(t, p.Errors, 1)
	require.Equal(t, 3, p.Errors[0].Line)
	require.Equal(t, "invalid_user", p.Errors[0].Reason)

	ct, body = multipartBody(t, "breach.csv", csvBad, "provider", "corp", "dry_run", "true")
	code, _, b = e.call(t, "POST", "/v1/campaigns", opsToken, ct, body)
	require.Equal(t, http.StatusOK, code, "%s", b)
	scan := decode[producer.ScanView](t, b)
	require.Equal(t, 4, scan.Rows)
	require.Equal(t, 2, scan.Users)
	require.Equal(t, map[string]int{"invalid_user": 1, "duplicate_row": 1}, scan.Reasons)
	require.Equal(t, []int{3, 5}, []int{scan.Problems[0].Line, scan.Problems[1].Line})

	ct, body = multipartBody(t, "breach.csv", csvBad, "provider", "corp", "name", "breach", "skip_invalid", "true", "rate", "50/s")
	code, h, b = e.call(t, "POST", "/v1/campaigns", opsToken, ct, body)
	require.Equal(t, http.StatusCreated, code, "%s", b)
	require.Equal(t, "/v1/campaigns/breach", h.Get("Location"))
	started := decode[httpapi.CampaignStarted](t, b)
	require.False(t, started.Resumed)
	require.Equal(t, 50.0, started.Campaign.RatePerSecond)
	require.Equal(t, "breach.csv", started.Campaign.Source)

	ct, body = multipartBody(t, "breach.csv", csvBad, "provider", "corp", "name", "breach", "skip_invalid", "true")
	code, _, b = e.call(t, "POST", "/v1/campaigns", opsToken, ct, body)
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.True(t, decode[httpapi.CampaignStarted](t, b).Resumed, "the same file resumes")

	get := func(name string) producer.CampaignView {
		code, _, b := e.json(t, "GET", "/v1/campaigns/"+name, opsToken, nil)
		require.Equal(t, http.StatusOK, code, "%s", b)
		return decode[producer.CampaignView](t, b)
	}
	require.Eventually(t, func() bool { return get("breach").Status == "completed" }, 20*time.Second, 20*time.Millisecond)
	got := get("breach")
	require.Equal(t, map[string]int{"waiting": 0, "queued": 0, "succeeded": 1, "skipped": 2, "failed": 1, "cancelled": 0}, got.Totals)
	require.Equal(t, []producer.RowCount{{State: "succeeded", N: 1}, {State: "skipped", Reason: tasks.ReasonDuplicateRow, N: 1},
		{State: "skipped", Reason: tasks.ReasonUserNotFound, N: 1}, {State: "failed", Reason: tasks.ReasonInvalidRow, N: 1}}, got.Reasons,
		"why, by outcome and reason")

	code, h, b = e.call(t, "GET", "/v1/campaigns/breach/report?format=csv", opsToken, "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/csv; charset=utf-8", h.Get("Content-Type"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Equal(t, "line,user_kind,user,state,reason,attempts,finished_at,requester", lines[0])
	require.Len(t, lines, 5)
	require.Regexp(t, `^2,email,alice@example.com,succeeded,,1,20\d\d-`, lines[1])
	require.Regexp(t, `^3,invalid,not-an-email,failed,invalid_row,0,`, lines[2])
	require.Regexp(t, `^4,email,bob@example.com,skipped,user_not_found,1,`, lines[3])
	require.Regexp(t, `^5,email,ALICE@example.com,skipped,duplicate_row,0,`, lines[4])

	code, _, b = e.call(t, "GET", "/v1/campaigns/breach/report?format=json&state=skipped,failed", opsToken, "", nil)
	require.Equal(t, http.StatusOK, code)
	rows := decode[[]map[string]any](t, b)
	require.Len(t, rows, 3)
	require.Equal(t, map[string]any{"email": "bob@example.com"}, rows[1]["user"])
	code, h, b = e.call(t, "GET", "/v1/campaigns/breach/report?state=lost", opsToken, "", nil)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	problem(t, h, b)

	code, h, b = e.json(t, "POST", "/v1/campaigns/breach/resume", opsToken, nil)
	require.Equal(t, http.StatusConflict, code, "a completed campaign cannot resume")
	require.Contains(t, problem(t, h, b).Detail, "which is completed")
	e.refused(t, http.StatusNotFound, "GET", "/v1/campaigns/nope", opsToken, nil)
	e.refused(t, http.StatusNotFound, "POST", "/v1/campaigns/Not%20A%20Name/pause", opsToken, nil)

	// A raw CSV body with its options in the query, scheduled for later.
	code, _, b = e.call(t, "POST", "/v1/campaigns?provider=corp&name=later&start_at=1h&spread=2h", opsToken, "text/csv",
		strings.NewReader("username\nalice\nbob\n"))
	require.Equal(t, http.StatusCreated, code, "%s", b)
	later := decode[httpapi.CampaignStarted](t, b).Campaign
	require.Equal(t, "scheduled", later.Status)
	require.InDelta(t, 2.0/7200, later.RatePerSecond, 1e-9)
	code, _, b = e.json(t, "POST", "/v1/campaigns/later/pause", opsToken, nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, "paused", decode[producer.CampaignView](t, b).Status)
	code, _, b = e.json(t, "POST", "/v1/campaigns/later/cancel", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	cancelled := decode[producer.CampaignView](t, b)
	require.Equal(t, "cancelled", cancelled.Status)
	require.Equal(t, 2, cancelled.Totals["cancelled"])

	// Users as JSON.
	code, _, b = e.json(t, "POST", "/v1/campaigns", opsToken, map[string]any{
		"provider": "corp", "name": "json-users", "window": 60,
		"users": []map[string]any{{"email": "alice@example.com", "meta": map[string]string{"team": "eng"}}, {"id": "x-1"}}})
	require.Equal(t, http.StatusCreated, code, "%s", b)
	js := decode[httpapi.CampaignStarted](t, b)
	require.Equal(t, 2, js.Campaign.Rows)
	require.Equal(t, 60, js.Campaign.Window)
	require.Contains(t, e.refused(t, http.StatusBadRequest, "POST", "/v1/campaigns", opsToken, map[string]any{"provider": "corp", "users": []string{}, "color": "red"}).Detail, `unknown field "color"`)
	require.Contains(t, e.refused(t, http.StatusBadRequest, "POST", "/v1/campaigns", opsToken, map[string]any{"provider": "corp"}).Detail, "users is required")

	// An upload over the limit is refused whole.
	big := "email\n" + strings.Repeat("someone@example.com\n", (2<<20)/20)
	ct, body = multipartBody(t, "big.csv", big, "provider", "corp")
	code, h, b = e.call(t, "POST", "/v1/campaigns", opsToken, ct, body)
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	problem(t, h, b)
	ct, body = multipartBody(t, "other.csv", "email\ncarol@example.com\n", "provider", "corp", "name", "breach")
	code, h, b = e.call(t, "POST", "/v1/campaigns", opsToken, ct, body)
	require.Equal(t, http.StatusConflict, code, "the name is taken by another file")
	problem(t, h, b)

	code, _, b = e.json(t, "GET", "/v1/campaigns", opsToken, nil)
	require.Equal(t, http.StatusOK, code)
	list := decode[httpapi.CampaignList](t, b)
	var names []string
	for _, c := range list.Campaigns {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"json-users", "later", "breach"}, names, "newest first")
}
