package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the whole of resetq.yaml.
type Config struct {
	Redis     Redis      `yaml:"redis"`
	Worker    Worker     `yaml:"worker"`
	HTTP      HTTP       `yaml:"http"`
	Log       Log        `yaml:"log"`
	Providers []Provider `yaml:"providers"`
	Webhooks  Webhooks   `yaml:"webhooks"`
	Campaigns Campaigns  `yaml:"campaigns"`
	API       API        `yaml:"api"`
	Audit     Audit      `yaml:"audit"`

	// Path is the file the configuration came from ("" when built in code).
	Path string `yaml:"-"`
}

// Redis says where the queues live.
type Redis struct {
	// URL is redis://, rediss:// (TLS), redis-socket:// or
	// redis-sentinel://.
	URL string `yaml:"url"`
	// Cluster, instead of URL, names a Redis Cluster's nodes.
	Cluster RedisCluster `yaml:"cluster"`
}

// RedisCluster is a Redis Cluster: any of its nodes, the rest are found.
type RedisCluster struct {
	Addrs        []string `yaml:"addrs"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	// TLS connects with TLS, checking the nodes' certificates.
	TLS bool `yaml:"tls"`
}

// Worker tunes `resetq worker`.
type Worker struct {
	// Concurrency is how many resets of each provider one process works
	// on at once (a provider's own concurrency overrides it).
	Concurrency int `yaml:"concurrency"`
	// ShutdownTimeout is how long in-flight resets get to finish on
	// SIGTERM before they are put back in their queue.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// PollInterval is how long an idle worker waits between looks at empty
	// queues; pickup latency is about half of it on average.
	PollInterval time.Duration `yaml:"poll_interval"`
	// OutcomeRetention is how long a finished task's outcome stays readable
	// (and a repeated idempotency key is recognised). At least 24 h.
	OutcomeRetention time.Duration `yaml:"outcome_retention"`
}

// HTTP configures the worker's listener: /metrics, /healthz, /readyz and
// the queue UI at /ui/.
type HTTP struct {
	Listen string `yaml:"listen"`
	// QueueMetrics: /metrics includes the queues' sizes, read from Redis at
	// each scrape (default true). With several workers, leave it on in one.
	QueueMetrics *bool `yaml:"queue_metrics"`
	// UI serves the Asynq queue UI at /ui/ (default true).
	UI *bool `yaml:"ui"`
	// UIReadOnly lets the UI look but not touch (default true).
	UIReadOnly *bool `yaml:"ui_read_only"`
	// Auth protects /ui/; it is required when listen is not a loopback
	// address, and whenever the UI is not read-only.
	Auth HTTPAuth `yaml:"auth"`
	// Viewers may look at the console and the UI and change nothing; Auth
	// is the operator, who may.
	Viewers []HTTPViewer `yaml:"viewers"`
	// AllowedHosts are the host names, besides IP addresses, localhost and
	// listen's own host, by which browsers reach the UI (a proxy's public
	// name). Any other Host is refused, which defeats DNS rebinding.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// HTTPAuth is a bearer token, or a user name and password (HTTP Basic).
type HTTPAuth struct {
	Token        string `yaml:"token"`
	TokenFile    string `yaml:"token_file"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// HTTPViewer is a read-only user of the console and the UI: a name (for
// the logs), and a token or a user name and password.
type HTTPViewer struct {
	Name     string `yaml:"name"`
	HTTPAuth `yaml:",inline"`
}

// Campaigns tunes the campaign feeders that run in every worker.
type Campaigns struct {
	// Retention is how long a finished campaign's state and report stay
	// readable (default 30 days).
	Retention time.Duration `yaml:"retention"`
	// FeedInterval is how often a feeder tops its campaigns' windows up
	// (default 200ms).
	FeedInterval time.Duration `yaml:"feed_interval"`
	// StallAfter: a campaign whose queued rows make no progress for this
	// long has its tasks checked, and lost ones sent again (default 5m).
	StallAfter time.Duration `yaml:"stall_after"`
}

// API configures the HTTP producer API (`resetq api`).
type API struct {
	Listen string `yaml:"listen"`
	// InWorker also serves the API under /v1/ on every worker's listener.
	InWorker bool `yaml:"in_worker"`
	// MaxUploadMB bounds a campaign upload (default 256); other request
	// bodies are bounded at 64 KiB.
	MaxUploadMB int `yaml:"max_upload_mb"`
	// Tokens are the bearer tokens the API accepts, each with its scopes.
	Tokens []APIToken `yaml:"tokens"`
}

// APIToken is one client of the API.
type APIToken struct {
	// Name identifies the client in logs.
	Name      string `yaml:"name"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Scopes: resets (ask for resets, see whether they are done),
	// outcomes (also read how they ended), campaigns (everything about
	// campaigns, reports included), audit (read the audit trail).
	Scopes []string `yaml:"scopes"`
	// RateLimit bounds how fast the client may ask for resets, and
	// DailyLimit how many it may ask for in a UTC day; above either the
	// API answers 429 and enqueues nothing. Zero: no limit.
	RateLimit  Rate `yaml:"rate_limit"`
	DailyLimit int  `yaml:"daily_limit"`
}

// Audit is the audit trail: every request, outcome and operator action,
// one append-only record each, kept in Redis.
type Audit struct {
	// Retention is how long a record is kept (default 90 days).
	Retention time.Duration `yaml:"retention"`
	// MaxRecords bounds the trail whatever its age (default 2,000,000):
	// the oldest records go first.
	MaxRecords int `yaml:"max_records"`
}

// API scopes.
const (
	ScopeResets    = "resets"
	ScopeOutcomes  = "outcomes"
	ScopeCampaigns = "campaigns"
	ScopeAudit     = "audit"
)

// Scopes lists every API scope.
var Scopes = []string{ScopeResets, ScopeOutcomes, ScopeCampaigns, ScopeAudit}

// Log configures logging.
type Log struct {
	// Format is json (the default) or text.
	Format string `yaml:"format"`
	// Level is debug, info (the default), warn or error.
	Level string `yaml:"level"`
	// IncludeUser logs the user's address; by default a short hash stands
	// for it.
	IncludeUser bool `yaml:"include_user"`
}

// Provider is one identity provider resets go through. Each has its own
// queue.
type Provider struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Settings are the type's own keys, written flat beside these: a
	// *Keycloak, *Keygen, *Kratos, … (nil while the type is unknown).
	Settings Settings `yaml:"-"`

	// DuplicateWindow: a second reset for the same user inside it is
	// skipped (recently_reset) without calling the IdP. Default 1h for
	// Keygen, whose new reset cancels the link already sent; 0 (off) for
	// Keycloak.
	DuplicateWindow *time.Duration `yaml:"duplicate_window"`

	// RateLimit caps resets per unit of time across every worker process.
	RateLimit Rate `yaml:"rate_limit"`
	// Timeout bounds each HTTP call to the IdP (for Keycloak, each call but
	// the reset).
	Timeout time.Duration `yaml:"timeout"`
	// MailHaltAfter: this many different users' mail failing in a row,
	// none delivered in between, halts the provider (default 5; 0 never).
	MailHaltAfter *int `yaml:"mail_halt_after"`
	// MailRefusedAfter: a user whose mail failed this many times while the
	// relay delivered others' is skipped as recipient_refused (default 3;
	// 0 never: retried until its retries run out).
	MailRefusedAfter *int `yaml:"mail_refused_after"`
	// AttemptTimeout bounds one attempt of a task: lookup, reset and the
	// retries within the attempt.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	// MaxRetries is how many times a task is retried across attempts
	// before it fails.
	MaxRetries *int `yaml:"max_retries"`
	// Concurrency is how many of this provider's resets one process works
	// on at once; default worker.concurrency. Keycloak sends mail inside
	// the request, so a realm behind a slow relay wants 2–4.
	Concurrency int `yaml:"concurrency"`
}

// Webhooks configures the signed events sent on completion.
type Webhooks struct {
	// Concurrency is how many deliveries one process makes at once.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one delivery attempt; ConnectTimeout its connection.
	Timeout        time.Duration `yaml:"timeout"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RetrySchedule is the wait before each retry, after an immediate
	// first attempt.
	RetrySchedule []time.Duration   `yaml:"retry_schedule"`
	Endpoints     []WebhookEndpoint `yaml:"endpoints"`
}

// WebhookEndpoint is one receiver.
type WebhookEndpoint struct {
	// Name identifies the endpoint in metrics, logs and `resetq webhook`;
	// default endpoint-N. Keep it stable: a disabled state is kept by name.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret is one whsec_ secret, or several separated by spaces or
	// newlines while rotating.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Events the endpoint subscribes to; default all.
	Events []string `yaml:"events"`
	// IncludeUser false sends a keyed hash instead of the user's address
	// (default true).
	IncludeUser *bool `yaml:"include_user"`
	// AllowPrivateNetworks lets deliveries reach loopback, private and
	// link-local addresses, and plain http.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
}

// Rate is a number of events per period, written "20/s", "600/m", "5/h".
// The zero Rate means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate reads "N/s", "N/m" or "N/h" (also "N/second" and so on).
func ParseRate(s string) (Rate, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q must look like 20/s, 600/m or 5/h", s)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 0 {
		return Rate{}, fmt.Errorf("rate %q must start with a whole number ≥ 0", s)
	}
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		return Rate{}, fmt.Errorf("rate %q: the unit after / must be s, m or h", s)
	}
	return Rate{N: count, Per: per}, nil
}

// IsZero reports whether the rate means "no limit".
func (r Rate) IsZero() bool { return r.N == 0 }

// String writes the rate back as N/s, N/m or N/h.
func (r Rate) String() string {
	if r.IsZero() {
		return "unlimited"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return fmt.Sprintf("%d/%s", r.N, unit)
}

// PerSecond returns the rate as events per second.
func (r Rate) PerSecond() float64 {
	if r.IsZero() {
		return 0
	}
	return float64(r.N) / r.Per.Seconds()
}

// Provider returns the provider with that name, or nil.
func (c *Config) Provider(name string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i]
		}
	}
	return nil
}

// ProviderNames lists the configured providers in order.
func (c *Config) ProviderNames() []string {
	out := make([]string, len(c.Providers))
	for i, p := range c.Providers {
		out[i] = p.Name
	}
	return out
}
