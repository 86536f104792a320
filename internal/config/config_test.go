package config_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/worker"
)

// mustParse parses yaml as the file path and requires no error.
func mustParse(t *testing.T, path, yaml string, vars map[string]string, msgAndArgs ...any) *config.Config {
	t.Helper()
	c, err := config.Parse(path, []byte(yaml), env(vars))
	require.NoError(t, err, msgAndArgs...)
	return c
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// requireErrors parses yaml and requires an error that says each of want.
// settings returns p's type's own settings as a T.
func settings[T config.Settings](t *testing.T, p *config.Provider) T {
	t.Helper()
	require.NotNil(t, p)
	s, ok := p.Settings.(T)
	require.Truef(t, ok, "provider %s has settings %T", p.Name, p.Settings)
	return s
}

func requireErrors(t *testing.T, yaml string, vars map[string]string, want ...string) {
	t.Helper()
	_, err := config.Parse("/etc/resetq/resetq.yaml", []byte(yaml), env(vars))
	require.Error(t, err)
	for _, w := range want {
		require.Contains(t, err.Error(), w)
	}
}

// oneKeycloak is the least configuration that parses: one Keycloak provider.
const oneKeycloak = "providers:\n  - {name: corp, type: keycloak, base_url: \"https://sso.example.com\", realm: r, auth: {client_id: c, client_secret: s}}\n"

const good = `
redis:
  url: redis://127.0.0.1:6379/0
worker:
  concurrency: 8
http:
  listen: 127.0.0.1:9464
providers:
  - name: corp
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth:
      realm: master
      client_id: resetq
      client_secret: ${KC_SECRET}
    actions: [UPDATE_PASSWORD]
    link: {lifespan: 12h, client_id: account-console, redirect_uri: "https://app.example.com/"}
    rate_limit: 20/s
    timeout: 30s
    max_retries: 5
`

func TestLoadsTheDesignExample(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "resetq.yaml", good, map[string]string{"KC_SECRET": "s3cret"})
	p := c.Provider("corp")
	require.NotNil(t, p)
	kc := settings[*config.Keycloak](t, p)
	require.Equal(t, "s3cret", kc.Auth.ClientSecret)
	require.Equal(t, "client_credentials", kc.Auth.Grant)
	require.Equal(t, "master", kc.Auth.Realm)
	require.Equal(t, 12*time.Hour, kc.Link.Lifespan)
	require.Equal(t, config.Rate{N: 20, Per: time.Second}, p.RateLimit)
	require.Equal(t, 5, *p.MaxRetries)
	require.Equal(t, 8, c.Worker.Concurrency)
	require.Equal(t, 8, p.Concurrency, "a provider's concurrency defaults to worker.concurrency")
	require.Equal(t, config.DefaultShutdownTimeout, c.Worker.ShutdownTimeout, "defaults fill the rest")
	require.Equal(t, keycloak.DefaultResetTimeout, kc.ResetTimeout, "Keycloak's reset outwaits its SMTP timeouts")
	require.Equal(t, kc.ResetTimeout+2*p.Timeout, p.AttemptTimeout, "an attempt fits a lookup and the slowest reset")
	require.Equal(t, worker.DefaultMailHaltAfter, *p.MailHaltAfter)
	require.Equal(t, worker.DefaultMailRefusedAfter, *p.MailRefusedAfter)
}

func TestErrorsNameTheFieldAndLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"unknown key with suggestion", `
providers:
  - name: corp
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth:
      client_id: resetq
      clientsecret: x
`, nil, []string{"resetq.yaml:9: providers[0].auth.clientsecret: unknown key (did you mean client_secret?)",
			"resetq.yaml:7: providers[0].auth.client_secret: required for client_credentials (or client_secret_file)"}},
		{"unknown top-level key", "webhook:\n  url: x\nproviders: []\n", nil,
			[]string{"resetq.yaml:1: webhook: unknown key", "resetq.yaml:3: providers: at least one provider is required"}},
		{"missing secret", `
providers:
  - name: corp
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth: {client_id: resetq}
`, nil, []string{"resetq.yaml:7: providers[0].auth.client_secret: required for client_credentials (or client_secret_file)"}},
		{"bad duration", `
worker:
  shutdown_timeout: 30x
providers: []
`, nil, []string{`resetq.yaml:3: worker.shutdown_timeout: "30x" is not a duration (write it like 30s, 5m or 12h)`}},
		{"bad rate", "providers:\n  - name: a\n    rate_limit: fast\n", nil,
			[]string{`resetq.yaml:3: providers[0].rate_limit: rate "fast" must look like 20/s, 600/m or 5/h`}},
		{"wrong type", "worker:\n  concurrency: lots\nproviders: []\n", nil,
			[]string{`resetq.yaml:2: worker.concurrency: "lots" is not a whole number`}},
		{"unset variable", "redis:\n  url: ${REDIS}\nproviders: []\n", nil,
			[]string{"resetq.yaml:2: ${REDIS} is not set in the environment"}},
		{"provider name syntax and duplicates", `
providers:
  - {name: Corp, type: keycloak, base_url: "https://a.example", realm: r, auth: {client_id: c, client_secret: s}}
  - {name: corp, type: keycloak, base_url: "https://a.example", realm: r, auth: {client_id: c, client_secret: s}}
  - {name: corp, type: keycloak, base_url: "https://a.example", realm: r, auth: {client_id: c, client_secret: s}}
  - {name: webhooks, type: onelogin}
`, nil, []string{
			`resetq.yaml:3: providers[0].name: "Corp" must be lower-case`,
			`resetq.yaml:5: providers[2].name: "corp" is already the name of providers[1]`,
			`resetq.yaml:6: providers[3].name: "webhooks" is reserved`,
			`resetq.yaml:6: providers[3].type: unknown provider type "onelogin"`}},
		{"keycloak details", `
providers:
  - name: corp
    type: keycloak
    base_url: sso.example.com
    auth:
      grant: password
    actions: [update_password]
    link:
      redirect_uri: /relative
      lifespan: 10s
`, nil, []string{
			`resetq.yaml:5: providers[0].base_url: "sso.example.com" must be an http:// or https:// URL`,
			`resetq.yaml:3: providers[0].realm: is required`,
			`resetq.yaml:6: providers[0].auth.username: required for the password grant`,
			`resetq.yaml:8: providers[0].actions[0]: unknown action "update_password" (did you mean UPDATE_PASSWORD?`,
			`resetq.yaml:11: providers[0].link.lifespan: must be whole seconds of at least 1m, not 10s`,
			`resetq.yaml:9: providers[0].link.client_id: required when link.redirect_uri is set`,
			`resetq.yaml:10: providers[0].link.redirect_uri: "/relative" must be an absolute URL`}},
		{"mail and reset timeouts", `providers:
  - name: corp
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth: {client_id: resetq, client_secret: x}
    reset_timeout: 2m
    attempt_timeout: 1m
    mail_halt_after: -1
    mail_refused_after: 1000
  - name: lic
    type: keygen
    account: acme
    token: t
    reset_timeout: 1m
  - name: quick
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth: {client_id: resetq, client_secret: x}
    reset_timeout: 500ms
`, nil, []string{
			"resetq.yaml:8: providers[0].attempt_timeout: must be at least reset_timeout plus timeout (2m30s), not 1m",
			"resetq.yaml:9: providers[0].mail_halt_after: must be between 0 (never) and 1000, not -1",
			"resetq.yaml:10: providers[0].mail_refused_after: must be between 0 (never) and 100, not 1000",
			"resetq.yaml:15: providers[1].reset_timeout: is not a keygen setting",
			"resetq.yaml:21: providers[2].reset_timeout: must be between 1s and 30m, not 500ms"}},
		{"syntax error", "providers:\n  - name: corp\n   type: keycloak\n", nil, []string{"resetq.yaml: line 1: did not find expected '-' indicator"}},
		{"worker limits", "worker:\n  concurrency: 0\n  outcome_retention: 1h\n  poll_interval: 1ms\nlog: {format: xml}\nproviders: []\n", nil, []string{
			"resetq.yaml:4: worker.poll_interval: must be between 5ms and 10s",
			"resetq.yaml:3: worker.outcome_retention: must be at least 24h0m0s",
			"resetq.yaml:5: log.format: must be json or text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireErrors(t, tt.yaml, tt.env, tt.want...)
		})
	}
}

func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kc"), []byte("from-file\n"), 0o600))
	yaml := `
providers:
  - name: corp
    type: keycloak
    base_url: https://sso.example.com/auth
    realm: corp
    auth: {client_id: resetq, client_secret_file: kc}
  - name: legacy
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth: {grant: password, username: admin, password_file: /nonexistent/pw}
  - name: both
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth: {client_id: x, client_secret: a, client_secret_file: kc}
`
	path := filepath.Join(dir, "resetq.yaml")
	_, err := config.Parse(path, []byte(yaml), env(nil))
	require.Error(t, err)
	require.Contains(t, err.Error(), "resetq.yaml:12: providers[1].auth.password_file: cannot read the secret")
	require.Contains(t, err.Error(), "resetq.yaml:17: providers[2].auth.client_secret: give either client_secret or client_secret_file, not both")

	ok := strings.SplitN(yaml, "  - name: legacy", 2)[0]
	c := mustParse(t, path, ok, nil)
	require.Equal(t, "from-file", settings[*config.Keycloak](t, &c.Providers[0]).Auth.ClientSecret, "relative to the config file, newline trimmed")
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	yaml := `
redis:
  url: redis://${REDIS_HOST:-localhost}:6379/0
providers:
  - name: corp
    type: keycloak
    base_url: https://sso.example.com
    realm: corp
    auth: {client_id: resetq, client_secret: "pa$$word${SUFFIX}"}
    max_retries: ${RETRIES}
`
	c := mustParse(t, "resetq.yaml", yaml, map[string]string{"SUFFIX": "!", "RETRIES": "3"})
	require.Equal(t, "redis://localhost:6379/0", c.Redis.URL)
	require.Equal(t, "pa$word!", settings[*config.Keycloak](t, &c.Providers[0]).Auth.ClientSecret)
	require.Equal(t, 3, *c.Providers[0].MaxRetries)

	c = mustParse(t, "resetq.yaml", yaml, map[string]string{"SUFFIX": "", "RETRIES": "3",
		config.EnvRedisURL: "redis://10.0.0.5:6380/2"})
	require.Equal(t, "redis://10.0.0.5:6380/2", c.Redis.URL, "RESETQ_REDIS_URL wins")
}

func TestLoadReportsAMissingFileHelpfully(t *testing.T) {
	t.Parallel()
	_, err := config.Load(filepath.Join(t.TempDir(), "resetq.yaml"))
	require.ErrorContains(t, err, "does not exist (pass --config FILE or set RESETQ_CONFIG)")
}

func TestRates(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"20/s": 20, "600/m": 10, "5/h": 5.0 / 3600, "0/s": 0} {
		r, err := config.ParseRate(in)
		require.NoError(t, err, in)
		require.InDelta(t, want, r.PerSecond(), 1e-9, in)
	}
	for _, bad := range []string{"20", "x/s", "-1/s", "5/d"} {
		_, err := config.ParseRate(bad)
		require.Error(t, err, bad)
	}
}

func TestKeygenProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kg"), []byte("admin-from-file\n"), 0o600))
	yaml := `
providers:
  - name: licensing
    type: keygen
    account: acme
    token_file: kg
  - name: selfhosted
    type: keygen
    base_url: https://licensing.example.com
    account: 00000000-0000-0000-0000-000000000000
    auth: {email: admin@example.com, password: "${KG_PW}"}
    deliver: false
    verify_user: true
    keygen_version: "1.7"
    duplicate_window: 0s
`
	c := mustParse(t, filepath.Join(dir, "resetq.yaml"), yaml, map[string]string{"KG_PW": "pw"})
	pa, pb := c.Provider("licensing"), c.Provider("selfhosted")
	a, b := settings[*config.Keygen](t, pa), settings[*config.Keygen](t, pb)
	require.Equal(t, "https://api.keygen.sh", a.BaseURL)
	require.Equal(t, "admin-from-file", a.Token)
	require.True(t, *a.Deliver)
	require.Equal(t, time.Hour, *pa.DuplicateWindow, "Keygen's own throttle window")
	require.Equal(t, "1.8", a.KeygenVersion)
	require.False(t, *b.Deliver)
	require.True(t, b.VerifyUser)
	require.Zero(t, *pb.DuplicateWindow, "0s turns it off")
	require.Equal(t, "pw", b.Auth.Password)
	require.Equal(t, tasks.DefaultAttemptTimeout, pa.AttemptTimeout, "no Keycloak reset_timeout in a Keygen attempt")

	c = mustParse(t, "resetq.yaml", good, map[string]string{"KC_SECRET": "s"})
	require.Zero(t, *c.Provider("corp").DuplicateWindow, "off by default for Keycloak")
}

func TestKeygenErrors(t *testing.T) {
	t.Parallel()
	requireErrors(t, `
providers:
  - name: a
    type: keygen
    realm: corp
    actions: [UPDATE_PASSWORD]
  - name: b
    type: keygen
    account: acme
    token: t
    auth: {email: x@example.com, password: p}
    keygen_version: latest
    duplicate_window: -1s
  - name: c
    type: keycloak
    base_url: https://sso.example.com
    realm: r
    auth: {client_id: c, client_secret: s}
    account: acme
    verify_user: true
`, nil,
		"resetq.yaml:5: providers[0].realm: is not a keygen setting",
		"resetq.yaml:6: providers[0].actions: is not a keygen setting",
		"resetq.yaml:3: providers[0].account: is required",
		"resetq.yaml:3: providers[0].token: required (or token_file, or auth.email and auth.password to mint one)",
		"resetq.yaml:10: providers[1].token: give a token or auth.email and auth.password, not both",
		`resetq.yaml:12: providers[1].keygen_version: "latest" must look like 1.8`,
		"resetq.yaml:13: providers[1].duplicate_window: must be between 0 (off) and 168h0m0s",
		"resetq.yaml:19: providers[2].account: is not a keycloak setting",
		"resetq.yaml:20: providers[2].verify_user: is not a keycloak setting",
	)
}

func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	base := `
providers:
  - {name: corp, type: keycloak, base_url: "https://sso.example.com", realm: r, auth: {client_id: c, client_secret: s}}
webhooks:
`
	c, err := config.Parse("resetq.yaml", []byte(base+`
  endpoints:
    - url: https://hooks.example.com/resetq
      secret: ${HOOK_SECRET}
    - name: internal
      url: http://10.0.0.7:8080/hooks
      secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
      events: [reset.failed, provider.halted]
      include_user: false
      allow_private_networks: true
`), env(map[string]string{"HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
	require.NoError(t, err)
	w := c.Webhooks
	require.Equal(t, 10, w.Concurrency)
	require.Equal(t, 15*time.Second, w.Timeout)
	require.Equal(t, 5*time.Second, w.RetrySchedule[0], "the Standard Webhooks schedule")
	require.Equal(t, "endpoint-0", w.Endpoints[0].Name)
	require.Len(t, w.Endpoints[0].Events, 6, "all events by default")
	require.True(t, *w.Endpoints[0].IncludeUser)
	require.False(t, *w.Endpoints[1].IncludeUser)

	_, err = config.Parse("resetq.yaml", []byte(base+`
  retry_schedule: [5s, -1s]
  endpoints:
    - name: a
      url: https://10.0.0.7/hooks
      secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    - name: a
      url: http://hooks.example.com/
      secret: my-plain-password
      events: [reset.done]
    - name: c
      url: https://hooks.example.com/
`), env(nil))
	require.Error(t, err)
	for _, want := range []string{
		"resetq.yaml:6: webhooks.retry_schedule[1]: must be positive",
		"resetq.yaml:9: webhooks.endpoints[0].url: 10.0.0.7 is a private, loopback or link-local address: set allow_private_networks: true",
		`resetq.yaml:11: webhooks.endpoints[1].name: "a" is already the name of webhooks.endpoints[0]`,
		"resetq.yaml:12: webhooks.endpoints[1].url: \"http://hooks.example.com/\" is plain http",
		"resetq.yaml:13: webhooks.endpoints[1].secret: a secret must start with whsec_",
		`resetq.yaml:14: webhooks.endpoints[1].events[0]: unknown event "reset.done"`,
		"resetq.yaml:15: webhooks.endpoints[2].secret: is required (or secret_file)",
	} {
		require.Contains(t, err.Error(), want)
	}
	require.NotContains(t, err.Error(), "my-plain-password", "a wrong secret is not quoted back")
}

func TestHTTPDefaultsAndUIAuth(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "resetq.yaml", oneKeycloak, nil)
	require.True(t, *c.HTTP.UI)
	require.True(t, *c.HTTP.UIReadOnly)
	require.True(t, *c.HTTP.QueueMetrics)
	require.False(t, c.Log.IncludeUser)

	_, err := config.Parse("resetq.yaml", []byte(oneKeycloak+"http: {listen: \":9464\"}\n"), env(nil))
	require.ErrorContains(t, err, `resetq.yaml:3: http.auth: required to serve the queue UI on :9464, which is not a loopback address`)
	mustParse(t, "resetq.yaml", oneKeycloak+"http: {listen: \":9464\", ui: false}\n", nil, "no UI, no auth needed")
	c = mustParse(t, "resetq.yaml", oneKeycloak+"http: {listen: \"0.0.0.0:9464\", auth: {token: \"${UI_TOKEN}\"}}\n",
		map[string]string{"UI_TOKEN": "0123456789abcdef0123"})
	require.Equal(t, "0123456789abcdef0123", c.HTTP.Auth.Token)
	_, err = config.Parse("resetq.yaml", []byte(oneKeycloak+"http: {listen: \":9464\", auth: {token: short}}\n"), env(nil))
	require.ErrorContains(t, err, "http.auth.token: must be at least 16 characters")
	_, err = config.Parse("resetq.yaml", []byte(oneKeycloak+"http: {listen: \":9464\", auth: {username: ops}}\n"), env(nil))
	require.ErrorContains(t, err, "username and password go together")
	for addr, loop := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, ":1": false, "0.0.0.0:1": false, "10.0.0.1:1": false} {
		require.Equal(t, loop, config.IsLoopback(addr), addr)
	}
}

// A writable UI can pause queues and delete resets: it needs credentials
// even where only this machine can reach it.
func TestWritableUIRequiresAuthEvenOnLoopback(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("resetq.yaml", []byte(oneKeycloak+"http: {listen: \"127.0.0.1:9464\", ui_read_only: false}\n"), env(nil))
	require.ErrorContains(t, err, "resetq.yaml:3: http.auth: required when http.ui_read_only is false, even on a loopback address")
	mustParse(t, "resetq.yaml", oneKeycloak+"http: {listen: \"127.0.0.1:9464\", ui_read_only: false, auth: {username: ops, password: pw}}\n", nil)
	mustParse(t, "resetq.yaml", oneKeycloak+"http: {listen: \"127.0.0.1:9464\", ui: false, ui_read_only: false}\n", nil, "no UI, nothing to protect")
}

func TestAllowedHostsAreHostNames(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "resetq.yaml", oneKeycloak+"http: {allowed_hosts: [resetq.example.com, queue-ui, 10.1.2.3]}\n", nil)
	require.Equal(t, []string{"resetq.example.com", "queue-ui", "10.1.2.3"}, c.HTTP.AllowedHosts)
	for _, bad := range []string{"https://resetq.example.com", "resetq.example.com:443", "*.example.com", "a/b", "-x.example.com", ""} {
		_, err := config.Parse("resetq.yaml", []byte(oneKeycloak+fmt.Sprintf("http: {allowed_hosts: [%q]}\n", bad)), env(nil))
		require.ErrorContains(t, err, "http.allowed_hosts[0]: ", bad)
	}
}

func TestAPIAndCampaigns(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "resetq.yaml", oneKeycloak, nil)
	require.Equal(t, "127.0.0.1:8080", c.API.Listen)
	require.Equal(t, 256, c.API.MaxUploadMB)
	require.Empty(t, c.API.Tokens)
	require.Equal(t, 30*24*time.Hour, c.Campaigns.Retention)
	require.Equal(t, 200*time.Millisecond, c.Campaigns.FeedInterval)
	require.Equal(t, 5*time.Minute, c.Campaigns.StallAfter)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "helpdesk"), []byte("helpdesk-token-0123456789\n"), 0o600))
	src := oneKeycloak + `api:
  listen: ":8080"
  tokens:
    - {name: helpdesk, token_file: helpdesk, scopes: [resets]}
    - {token: security-token-0123456789, scopes: [resets, outcomes, campaigns]}
campaigns: {retention: 48h}
`
	path := filepath.Join(dir, "resetq.yaml")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
	c, err := config.Load(path)
	require.NoError(t, err)
	require.Equal(t, []config.APIToken{
		{Name: "helpdesk", Token: "helpdesk-token-0123456789", TokenFile: "helpdesk", Scopes: []string{"resets"}},
		{Name: "token-1", Token: "security-token-0123456789", Scopes: []string{"resets", "outcomes", "campaigns"}},
	}, c.API.Tokens)
	require.Equal(t, 48*time.Hour, c.Campaigns.Retention)
	require.Equal(t, config.DefaultAuditRetention, c.Audit.Retention, "90 days unless told")
	require.Equal(t, config.DefaultAuditMaxRecords, c.Audit.MaxRecords)

	limited := mustParse(t, "resetq.yaml", oneKeycloak+"api: {tokens: [{name: helpdesk, token: 0123456789abcdefghij, scopes: [resets],"+
		" rate_limit: 2/s, daily_limit: 500}]}\naudit: {retention: 720h, max_records: 50000}\n", nil)
	require.Equal(t, config.Rate{N: 2, Per: time.Second}, limited.API.Tokens[0].RateLimit)
	require.Equal(t, 500, limited.API.Tokens[0].DailyLimit)
	require.Equal(t, config.Audit{Retention: 720 * time.Hour, MaxRecords: 50000}, limited.Audit)

	for src, want := range map[string]string{
		"api: {tokens: [{token: short, scopes: [resets]}]}":                                                                 "api.tokens[0].token: must be at least 20 characters",
		"api: {tokens: [{token: 0123456789abcdefghij, scopes: [admin]}]}":                                                   `api.tokens[0].scopes[0]: "admin" is not a scope (known: resets, outcomes, campaigns, audit)`,
		"api: {tokens: [{token: 0123456789abcdefghij}]}":                                                                    "api.tokens[0].scopes: at least one of resets, outcomes, campaigns, audit is required",
		"api: {tokens: [{token: 0123456789abcdefghij, scopes: [resets]}, {token: 0123456789abcdefghij, scopes: [resets]}]}": "api.tokens[1].token: is the same as api.tokens[0]'s",
		"api: {tokens: [{scopes: [resets]}]}":                                                                               "api.tokens[0].token: required",
		"api: {listen: nowhere}":                                                                                            `api.listen: "nowhere" must be host:port`,
		"api: {max_upload_mb: 0.5}":                                                                                         "api.max_upload_mb",
		"campaigns: {retention: 1h}":                                                                                        "campaigns.retention: must be at least 24h",
		"campaigns: {feed_interval: 1ms}":                                                                                   "campaigns.feed_interval: must be between 10ms and 1m",
		"campaigns: {stall: 1m}":                                                                                            "resetq.yaml:3: campaigns.stall: unknown key",
		"api: {tokens: [{token: 0123456789abcdefghij, scopes: [resets], rate_limit: fast}]}":                                `resetq.yaml:3: api.tokens[0].rate_limit: rate "fast" must look like 20/s`,
		"api: {tokens: [{token: 0123456789abcdefghij, scopes: [resets], daily_limit: -1}]}":                                 "api.tokens[0].daily_limit: must be 0 (no limit) or more, not -1",
		"audit: {retention: 1m}":                                                                                            "audit.retention: must be at least 1h, not 1m0s",
		"audit: {max_records: 10}":                                                                                          "audit.max_records: must be at least 1000, not 10",
	} {
		_, err := config.Parse("resetq.yaml", []byte(oneKeycloak+src+"\n"), env(nil))
		require.ErrorContains(t, err, want, src)
	}
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "resetq.yaml", oneKeycloak+"redis: {cluster: {addrs: [\"10.0.0.1:6379\", \"10.0.0.2:6379\"], password: pw, tls: true}}\n", nil)
	require.Empty(t, c.Redis.URL, "no default URL beside a cluster")
	require.Equal(t, []string{"10.0.0.1:6379", "10.0.0.2:6379"}, c.Redis.Cluster.Addrs)
	require.True(t, c.Redis.Cluster.TLS)

	for src, want := range map[string]string{
		"redis: {url: \"redis://h:6379/0\", cluster: {addrs: [\"h:6379\"]}}": "redis: give url or cluster.addrs, not both",
		"redis: {cluster: {addrs: [nowhere]}}":                               `redis.cluster.addrs[0]: "nowhere" must be host:port`,
		"redis: {cluster: {password: pw}}":                                   "redis.cluster: username, password and tls need cluster.addrs",
	} {
		_, err := config.Parse("resetq.yaml", []byte(oneKeycloak+src+"\n"), env(nil))
		require.ErrorContains(t, err, want, src)
	}
	_, err := config.Parse("resetq.yaml", []byte(oneKeycloak+"redis: {cluster: {addrs: [\"h:6379\"]}}\n"),
		env(map[string]string{config.EnvRedisURL: "redis://other:6379/0"}))
	require.ErrorContains(t, err, "give url or cluster.addrs, not both", "RESETQ_REDIS_URL beside a cluster is a conflict, not a silent choice")
}

func TestKeygenTokensAndEnvironments(t *testing.T) {
	t.Parallel()
	c, err := config.Parse("resetq.yaml", []byte(`
providers:
  - name: minted
    type: keygen
    account: acme
    auth: {email: admin@example.com, password: pw}
  - name: longer
    type: keygen
    account: acme
    auth: {email: admin@example.com, password: pw}
    token_expiry: 12h
    environment: production
  - name: static
    type: keygen
    account: acme
    token: admin-0123v3
    verify_user: true
`), env(nil))
	require.NoError(t, err)
	kg := func(name string) *config.Keygen { return settings[*config.Keygen](t, c.Provider(name)) }
	require.Equal(t, time.Hour, kg("minted").TokenExpiry, "minted tokens expire after 1h by default")
	require.Equal(t, 12*time.Hour, kg("longer").TokenExpiry)
	require.Equal(t, "production", kg("longer").Environment)
	require.Zero(t, kg("static").TokenExpiry, "a static token is the operator's")

	requireErrors(t, `
providers:
  - name: a
    type: keygen
    account: acme
    token: prod-0123456789abcdefv3
    verify_user: true
    token_expiry: 1h
  - name: b
    type: keygen
    account: acme
    auth: {email: admin@example.com, password: pw}
    token_expiry: 1m
    environment: "not an environment"
  - name: c
    type: keycloak
    base_url: https://sso.example.com
    realm: r
    auth: {client_id: c, client_secret: s}
    environment: production
`, nil,
		"resetq.yaml:7: providers[0].verify_user: needs a token that sees every user, and token is a product token",
		"resetq.yaml:8: providers[0].token_expiry: applies to a token minted with auth.email and auth.password only",
		"resetq.yaml:13: providers[1].token_expiry: must be between 10m0s and 720h0m0s, not 1m0s",
		`resetq.yaml:14: providers[1].environment: "not an environment" is not an environment's code or id`,
		"resetq.yaml:20: providers[2].environment: is not a keycloak setting",
	)
}

func TestKratosProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ory"), []byte("ory_pat_from_file\n"), 0o600))
	c := mustParse(t, filepath.Join(dir, "resetq.yaml"), `
providers:
  - name: selfhosted
    type: kratos
    base_url: http://kratos:4433
    rate_limit: 10/s
  - name: network
    type: kratos
    base_url: https://acme.projects.oryapis.com
    admin_url: https://acme.projects.oryapis.com
    token_file: ory
    verify_user: true
    method: code
    rate_limit: 5/s
`, nil)
	pa := c.Provider("selfhosted")
	a, b := settings[*config.Kratos](t, pa), settings[*config.Kratos](t, c.Provider("network"))
	require.Equal(t, "link", a.Method, "link unless told otherwise: a code mail needs a template that reaches the flow")
	require.Empty(t, a.AdminURL)
	require.Zero(t, *pa.DuplicateWindow)
	require.Equal(t, "ory_pat_from_file", b.Token)
	require.Equal(t, "code", b.Method)
	require.True(t, b.VerifyUser)
}

func TestKratosErrors(t *testing.T) {
	t.Parallel()
	requireErrors(t, `
providers:
  - name: a
    type: kratos
    realm: corp
    account: acme
    verify_user: true
    token: t
    method: sms
  - name: b
    type: kratos
    base_url: kratos:4433
    admin_url: http://kratos:4434/admin/identities
    rate_limit: 1/s
  - name: c
    type: keygen
    account: acme
    token: t
    admin_url: http://kratos:4434
    method: link
`, nil,
		"resetq.yaml:5: providers[0].realm: is not a kratos setting",
		"resetq.yaml:6: providers[0].account: is not a kratos setting",
		"resetq.yaml:3: providers[0].base_url: is required: Kratos' public API (where /self-service/recovery is served)",
		"resetq.yaml:7: providers[0].verify_user: needs admin_url: unknown addresses are found through Kratos' admin API",
		`resetq.yaml:9: providers[0].method: must be link or code, not "sms"`,
		"resetq.yaml:3: providers[0].rate_limit: is required for Kratos, which has no throttle of its own: every reset sends a mail (e.g. 10/s, what its mail relay takes)",
		`resetq.yaml:12: providers[1].base_url: "kratos:4433" must be an http:// or https:// URL`,
		`resetq.yaml:13: providers[1].admin_url: "http://kratos:4434/admin/identities" should be the server's root (with /auth for old servers), not an admin or realm URL`,
		"resetq.yaml:19: providers[2].admin_url: is not a keygen setting",
		"resetq.yaml:20: providers[2].method: is not a keygen setting",
	)
}

func TestFirebaseProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(rk)
	require.NoError(t, err)
	pemKey, err := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	require.NoError(t, err)
	key := `{"type": "service_account", "project_id": "acme", "client_email": "resetq@acme.iam.gserviceaccount.com",
  "private_key": ` + string(pemKey) + `}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sa.json"), []byte(key), 0o600))
	c := mustParse(t, filepath.Join(dir, "resetq.yaml"), `
providers:
  - name: admin
    type: firebase
    project_id: acme
    credentials_file: sa.json
    verify_user: true
    continue_url: https://app.example.com/signed-in
  - name: client
    type: firebase
    project_id: acme
    api_key: ${FIREBASE_KEY}
  - name: local
    type: firebase
    project_id: demo-resetq
    emulator_host: 127.0.0.1:9099
`, map[string]string{"FIREBASE_KEY": "AIza-from-env"})
	a := settings[*config.Firebase](t, c.Provider("admin"))
	require.Equal(t, key, a.Credentials, "the key, read from its file")
	require.Equal(t, "https://identitytoolkit.googleapis.com", a.BaseURL, "Google's API unless told otherwise")
	require.True(t, a.VerifyUser)
	require.Equal(t, "AIza-from-env", settings[*config.Firebase](t, c.Provider("client")).APIKey)
	require.Equal(t, "http://127.0.0.1:9099/identitytoolkit.googleapis.com", settings[*config.Firebase](t, c.Provider("local")).BaseURL,
		"emulator_host is where the emulator serves the API")
	require.Zero(t, *c.Provider("admin").DuplicateWindow)
	require.Equal(t, "email", strings.Join(c.Provider("client").Settings.Accepts().Names(), ","),
		"an API key is a client's: users by email only")
	require.Equal(t, "email,id", strings.Join(c.Provider("admin").Settings.Accepts().Names(), ","))
	for _, name := range []string{"admin", "client", "local"} {
		p := c.Provider(name)
		ip, err := p.Settings.New(p, nil)
		require.NoError(t, err, "%s builds", name)
		require.NotNil(t, ip)
	}
}

func TestFirebaseErrors(t *testing.T) {
	t.Parallel()
	requireErrors(t, `
providers:
  - name: a
    type: firebase
    realm: corp
  - name: b
    type: firebase
    project_id: acme
    api_key: k
    emulator_host: 127.0.0.1:9099
  - name: c
    type: firebase
    project_id: acme
    api_key: k
    verify_user: true
  - name: d
    type: firebase
    project_id: acme
    credentials: '{"type": "authorized_user"}'
  - name: e
    type: firebase
    project_id: acme
    emulator_host: localhost
  - name: f
    type: firebase
    project_id: acme
    credentials: 'not json'
  - name: g
    type: firebase
    project_id: acme
    credentials: '{"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": "garbage"}'
    continue_url: not a url
  - name: h
    type: firebase
    project_id: acme
    base_url: ftp://x
    api_key: k
`, nil,
		"resetq.yaml:5: providers[0].realm: is not a firebase setting",
		"resetq.yaml:3: providers[0].project_id: is required: the Firebase project's id (Project settings → General)",
		"resetq.yaml:3: providers[0].credentials_file: required: a service account's JSON key (or api_key, or emulator_host for the emulator)",
		"resetq.yaml:6: providers[1]: give one of credentials_file, api_key and emulator_host",
		"resetq.yaml:15: providers[2].verify_user: looks users up as an admin, and an API key is a client's: use credentials_file (a service account)",
		`resetq.yaml:19: providers[3].credentials: the credentials are of type "authorized_user", not a service account's key (service_account)`,
		`resetq.yaml:23: providers[4].emulator_host: "localhost" must be host:port, like 127.0.0.1:9099`,
		"resetq.yaml:27: providers[5].credentials: the service account key is not JSON",
		`resetq.yaml:32: providers[6].continue_url: "not a url" must be an http:// or https:// URL on a domain the project authorises`,
		`resetq.yaml:36: providers[7].base_url: "ftp://x" must be an http:// or https:// URL`,
	)
	_, err := config.Parse("resetq.yaml", []byte(`
providers:
  - name: g
    type: firebase
    project_id: acme
    credentials: '{"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": "garbage"}'
  - name: h
    type: firebase
    project_id: acme
    base_url: ftp://x
    api_key: k
`), env(nil))
	require.ErrorContains(t, err, "providers[0].credentials: the service account key's private_key: the private key is not PEM")
	require.Equal(t, 2, strings.Count(err.Error(), "providers["), "one problem each, the URL's not reported twice: %v", err)
}

func TestOktaProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "okta-token"), []byte("00okta-token-from-file\n"), 0o600))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	c := mustParse(t, filepath.Join(dir, "resetq.yaml"), `
providers:
  - name: workforce
    type: okta
    org_url: https://acme.okta.com
    api_token_file: okta-token
    revoke_sessions: true
  - name: customers
    type: okta
    org_url: https://acme-ciam.okta.com
    client_id: 0oa1resetq
    private_key_file: app.pem
    key_id: kid-1
    method: forgot
`, nil)
	a, b := settings[*config.Okta](t, c.Provider("workforce")), settings[*config.Okta](t, c.Provider("customers"))
	require.Equal(t, "00okta-token-from-file", a.APIToken)
	require.Equal(t, "reset", a.Method, "the admin reset unless told otherwise")
	require.True(t, a.RevokeSessions)
	require.Equal(t, "forgot", b.Method)
	require.Contains(t, b.PrivateKey, "BEGIN PRIVATE KEY")
	for _, name := range []string{"workforce", "customers"} {
		p := c.Provider(name)
		_, err := p.Settings.New(p, nil)
		require.NoError(t, err, "%s builds", name)
	}
}

func TestOktaErrors(t *testing.T) {
	t.Parallel()
	requireErrors(t, `
providers:
  - name: a
    type: okta
    realm: corp
  - name: b
    type: okta
    org_url: https://acme.okta.com
    api_token: t
    client_id: 0oa1
  - name: c
    type: okta
    org_url: https://acme.okta.com
    api_token: t
    method: forgot
    revoke_sessions: true
  - name: d
    type: okta
    org_url: https://acme.okta.com
    client_id: 0oa1
    private_key: not a key
  - name: e
    type: okta
    org_url: https://acme.okta.com
    api_token: t
    method: email
`, nil,
		"resetq.yaml:5: providers[0].realm: is not an okta setting",
		"resetq.yaml:3: providers[0].org_url: is required: the Okta org, like https://acme.okta.com",
		"resetq.yaml:3: providers[0].api_token_file: required: an API token (or a service app's client_id and private_key_file)",
		"resetq.yaml:6: providers[1]: give api_token or a service app (client_id and private_key_file), not both",
		"resetq.yaml:16: providers[2].revoke_sessions: goes with method reset (forgot leaves the user signed in)",
		"resetq.yaml:21: providers[3].private_key: the private key is not PEM",
		`resetq.yaml:26: providers[4].method: must be reset or forgot, not "email"`,
	)
}

func TestCognitoProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "aws"), []byte("[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\n"), 0o600))
	c := mustParse(t, filepath.Join(dir, "resetq.yaml"), `
providers:
  - name: pool
    type: cognito
    region: eu-west-1
    user_pool_id: eu-west-1_AbCdEf123
    credentials_file: aws
  - name: app
    type: cognito
    region: eu-west-1
    user_pool_id: eu-west-1_AbCdEf123
    method: forgot
    client_id: 1example23456789
    client_secret: ${SECRET}
    profile: resetq
`, map[string]string{"SECRET": "from-env"})
	a, b := settings[*config.Cognito](t, c.Provider("pool")), settings[*config.Cognito](t, c.Provider("app"))
	require.Equal(t, "admin", a.Method, "AdminResetUserPassword unless told otherwise")
	require.Equal(t, filepath.Join(dir, "aws"), a.CredentialsFile, "relative to the configuration file")
	require.Equal(t, "from-env", b.ClientSecret)
	p := c.Provider("pool")
	_, err := p.Settings.New(p, nil)
	require.NoError(t, err)
}

func TestCognitoErrors(t *testing.T) {
	t.Parallel()
	requireErrors(t, `
providers:
  - name: a
    type: cognito
    realm: corp
  - name: b
    type: cognito
    region: eu-west-1
    user_pool_id: us-east-1_AbCdEf123
    client_id: x
  - name: c
    type: cognito
    region: Ireland
    user_pool_id: pool
    method: forgot
  - name: d
    type: cognito
    region: eu-west-1
    user_pool_id: eu-west-1_AbCdEf123
    method: sms
    credentials_file: /no/such/file
`, nil,
		"resetq.yaml:5: providers[0].realm: is not a cognito setting",
		"resetq.yaml:3: providers[0].region: is required: the user pool's AWS region, like eu-west-1",
		"resetq.yaml:3: providers[0].user_pool_id: is required: the user pool's id, like eu-west-1_AbCdEf123",
		`resetq.yaml:9: providers[1].user_pool_id: "us-east-1_AbCdEf123" is not in region eu-west-1`,
		"resetq.yaml:10: providers[1].client_id: goes with method forgot (admin resets need no app client)",
		`resetq.yaml:13: providers[2].region: "Ireland" is not an AWS region, like eu-west-1`,
		`resetq.yaml:14: providers[2].user_pool_id: "pool" is not a user pool id, like eu-west-1_AbCdEf123`,
		"resetq.yaml:11: providers[2].client_id: required with method forgot: the app client ForgotPassword goes through",
		`resetq.yaml:20: providers[3].method: must be admin or forgot, not "sms"`,
		"resetq.yaml:21: providers[3].credentials_file: cannot be read",
	)
}

func TestHTTPViewers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "noc"), []byte("noc-token-0123456789abcdef\n"), 0o600))
	c := mustParse(t, filepath.Join(dir, "resetq.yaml"), oneKeycloak+`
http:
  auth: {username: ops, password: correct-horse}
  viewers:
    - {name: noc, token_file: noc}
    - {name: audit, username: auditor, password: look-only}
`, nil)
	require.Len(t, c.HTTP.Viewers, 2)
	require.Equal(t, "noc-token-0123456789abcdef", c.HTTP.Viewers[0].Token)
	require.Equal(t, "auditor", c.HTTP.Viewers[1].Username)
	requireErrors(t, oneKeycloak+`
http:
  auth: {username: ops, password: correct-horse}
  viewers:
    - {name: noc, token: short}
    - {name: noc, username: ops, password: x}
    - {name: Bad Name, username: x}
    - {name: other, tokn: x}
`, nil,
		"resetq.yaml:7: http.viewers[0].token: must be at least 16 characters",
		`resetq.yaml:8: http.viewers[1].name: "noc" is already the name of http.viewers[0]`,
		"resetq.yaml:8: http.viewers[1]: has the operator's credentials (http.auth): a viewer's must be its own",
		`resetq.yaml:9: http.viewers[2].name: "Bad Name" must be lower-case`,
		"resetq.yaml:9: http.viewers[2]: needs a token, or a username and password",
		"resetq.yaml:10: http.viewers[3].tokn: unknown key (did you mean token?)",
	)
}
