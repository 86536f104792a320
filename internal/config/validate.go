package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/resetq/resetq/tasks"
	"github.com/resetq/resetq/webhook"
	"github.com/resetq/resetq/worker"
)

// Defaults.
const (
	DefaultRedisURL         = "redis://127.0.0.1:6379/0"
	DefaultConcurrency      = 20
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultPollInterval     = 50 * time.Millisecond
	DefaultOutcomeRetention = 72 * time.Hour
	MinOutcomeRetention     = 24 * time.Hour
	DefaultListen           = "127.0.0.1:9464"
	DefaultAPIListen        = "127.0.0.1:8080"
	DefaultMaxUploadMB      = 256
	DefaultCampaignKeep     = 30 * 24 * time.Hour
	DefaultAuditRetention   = 90 * 24 * time.Hour
	DefaultAuditMaxRecords  = 2_000_000
	DefaultFeedInterval     = 200 * time.Millisecond
	DefaultStallAfter       = 5 * time.Minute
	minAPITokenLen          = 20
	DefaultTimeout          = 30 * time.Second
	DefaultMaxRetries       = 10
	maxTimeout              = 5 * time.Minute
)

// maxDuplicateWindow bounds a provider's duplicate_window.
const maxDuplicateWindow = 7 * 24 * time.Hour

// Default fills every setting left out.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Redis.URL == "" && len(c.Redis.Cluster.Addrs) == 0 {
		c.Redis.URL = DefaultRedisURL
	}
	w := &c.Worker
	if w.Concurrency == 0 {
		w.Concurrency = DefaultConcurrency
	}
	if w.ShutdownTimeout == 0 {
		w.ShutdownTimeout = DefaultShutdownTimeout
	}
	if w.PollInterval == 0 {
		w.PollInterval = DefaultPollInterval
	}
	if w.OutcomeRetention == 0 {
		w.OutcomeRetention = DefaultOutcomeRetention
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultListen
	}
	for _, b := range []**bool{&c.HTTP.QueueMetrics, &c.HTTP.UI, &c.HTTP.UIReadOnly} {
		if *b == nil {
			t := true
			*b = &t
		}
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	for i := range c.Providers {
		c.Providers[i].setDefaults()
		if c.Providers[i].Concurrency == 0 {
			c.Providers[i].Concurrency = w.Concurrency
		}
	}
	if c.Campaigns.Retention == 0 {
		c.Campaigns.Retention = DefaultCampaignKeep
	}
	if c.Campaigns.FeedInterval == 0 {
		c.Campaigns.FeedInterval = DefaultFeedInterval
	}
	if c.Campaigns.StallAfter == 0 {
		c.Campaigns.StallAfter = DefaultStallAfter
	}
	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	if c.Audit.Retention == 0 {
		c.Audit.Retention = DefaultAuditRetention
	}
	if c.Audit.MaxRecords == 0 {
		c.Audit.MaxRecords = DefaultAuditMaxRecords
	}
	if c.API.MaxUploadMB == 0 {
		c.API.MaxUploadMB = DefaultMaxUploadMB
	}
	for i := range c.API.Tokens {
		if c.API.Tokens[i].Name == "" {
			c.API.Tokens[i].Name = fmt.Sprintf("token-%d", i)
		}
	}
	wh := &c.Webhooks
	if wh.Concurrency == 0 {
		wh.Concurrency = 10
	}
	if wh.Timeout == 0 {
		wh.Timeout = 15 * time.Second
	}
	if wh.ConnectTimeout == 0 {
		wh.ConnectTimeout = 5 * time.Second
	}
	if wh.RetrySchedule == nil {
		wh.RetrySchedule = slices.Clone(webhook.DefaultSchedule)
	}
	for i := range wh.Endpoints {
		e := &wh.Endpoints[i]
		if e.Name == "" {
			e.Name = fmt.Sprintf("endpoint-%d", i)
		}
		if e.IncludeUser == nil {
			t := true
			e.IncludeUser = &t
		}
		if len(e.Events) == 0 {
			e.Events = slices.Clone(webhook.Types)
		}
	}
}

func (p *Provider) setDefaults() {
	if p.Settings != nil {
		p.Settings.defaults(p)
	}
	if p.DuplicateWindow == nil {
		var off time.Duration
		p.DuplicateWindow = &off
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.AttemptTimeout == 0 {
		// Room for a lookup, a reset and a few quick retries of each.
		p.AttemptTimeout = max(tasks.DefaultAttemptTimeout, 4*p.Timeout, p.slowestCall()+2*p.Timeout)
	}
	for _, n := range []struct {
		v   **int
		def int
	}{{&p.MailHaltAfter, worker.DefaultMailHaltAfter}, {&p.MailRefusedAfter, worker.DefaultMailRefusedAfter}} {
		if *n.v == nil {
			d := n.def
			*n.v = &d
		}
	}
	if p.MaxRetries == nil {
		n := DefaultMaxRetries
		p.MaxRetries = &n
	}
}

func (l *loader) validate(c *Config) {
	switch cl := c.Redis.Cluster; {
	case len(cl.Addrs) > 0 && c.Redis.URL != "":
		l.fieldError("redis", "give url or cluster.addrs, not both")
	case len(cl.Addrs) > 0:
		for i, a := range cl.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				l.fieldError(fmt.Sprintf("redis.cluster.addrs[%d]", i), "%q must be host:port", a)
			}
		}
	case cl.Username != "" || cl.Password != "" || cl.TLS:
		l.fieldError("redis.cluster", "username, password and tls need cluster.addrs")
	default:
		if u, err := url.Parse(c.Redis.URL); err != nil || !slices.Contains([]string{"redis", "rediss", "redis-sentinel", "redis-socket"}, u.Scheme) {
			l.fieldError("redis.url", "%q must be a redis://, rediss://, redis-sentinel:// or redis-socket:// URL", redact(c.Redis.URL))
		}
	}
	w := c.Worker
	if w.Concurrency < 1 || w.Concurrency > 10000 {
		l.fieldError("worker.concurrency", "must be between 1 and 10000, not %d", w.Concurrency)
	}
	if w.ShutdownTimeout < 0 {
		l.fieldError("worker.shutdown_timeout", "must not be negative")
	}
	if w.PollInterval < 5*time.Millisecond || w.PollInterval > 10*time.Second {
		l.fieldError("worker.poll_interval", "must be between 5ms and 10s, not %s", w.PollInterval)
	}
	if w.OutcomeRetention < MinOutcomeRetention {
		l.fieldError("worker.outcome_retention", "must be at least %s (outcomes are promised for a day), not %s",
			MinOutcomeRetention, w.OutcomeRetention)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		l.fieldError("http.listen", "%q must be host:port, like 127.0.0.1:9464 or :9464", c.HTTP.Listen)
	}
	a := c.HTTP.Auth
	switch {
	case a.Token != "" && (a.Username != "" || a.Password != ""):
		l.fieldError("http.auth", "give a token or a username and password, not both")
	case a.Token != "" && len(a.Token) < 16:
		l.fieldError("http.auth.token", "must be at least 16 characters")
	case (a.Username == "") != (a.Password == ""):
		l.fieldError("http.auth", "username and password go together")
	case *c.HTTP.UI && a.Token == "" && a.Username == "" && !*c.HTTP.UIReadOnly:
		l.fieldError("http.auth", "required when http.ui_read_only is false, even on a loopback address: "+
			"any local process or web page could otherwise pause queues and delete resets "+
			"(give a token or a username and password, or leave the UI read-only)")
	case *c.HTTP.UI && a.Token == "" && a.Username == "" && !IsLoopback(c.HTTP.Listen):
		l.fieldError("http.auth", "required to serve the queue UI on %s, which is not a loopback address "+
			"(give a token or a username and password, or set http.ui: false)", c.HTTP.Listen)
	}
	names := map[string]int{}
	for i, v := range c.HTTP.Viewers {
		path := fmt.Sprintf("http.viewers[%d]", i)
		if err := tasks.ValidateName(v.Name); err != nil {
			l.fieldError(path+".name", "%v (it names the viewer in the logs)", err)
		} else if j, dup := names[v.Name]; dup {
			l.fieldError(path+".name", "%q is already the name of http.viewers[%d]", v.Name, j)
		} else {
			names[v.Name] = i
		}
		switch {
		case v.Token != "" && (v.Username != "" || v.Password != ""):
			l.fieldError(path, "give a token or a username and password, not both")
		case v.Token != "" && len(v.Token) < 16:
			l.fieldError(path+".token", "must be at least 16 characters")
		case v.Token == "" && (v.Username == "" || v.Password == ""):
			l.fieldError(path, "needs a token, or a username and password")
		case v.Token != "" && v.Token == a.Token, v.Username != "" && v.Username == a.Username:
			l.fieldError(path, "has the operator's credentials (http.auth): a viewer's must be its own")
		}
	}
	for i, h := range c.HTTP.AllowedHosts {
		if !validHostName(h) {
			l.fieldError(fmt.Sprintf("http.allowed_hosts[%d]", i),
				"%q must be a host name as browsers send it, like resetq.example.com (no scheme, port, path or wildcard)", h)
		}
	}
	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		l.fieldError("log.format", "must be json or text, not %q", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		l.fieldError("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if len(c.Providers) == 0 {
		l.fieldError("providers", "at least one provider is required")
	}
	l.validateWebhooks(&c.Webhooks)
	l.validateCampaigns(&c.Campaigns)
	l.validateAPI(&c.API)
	l.validateAudit(&c.Audit)
	seen := map[string]int{}
	for i := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		p := &c.Providers[i]
		if err := tasks.ValidateName(p.Name); err != nil {
			l.fieldError(path+".name", "%v", err)
		} else if slices.Contains(tasks.ReservedProviderNames, p.Name) {
			l.fieldError(path+".name", "%q is reserved (its queue name is taken)", p.Name)
		} else if j, dup := seen[p.Name]; dup {
			l.fieldError(path+".name", "%q is already the name of providers[%d]", p.Name, j)
		} else {
			seen[p.Name] = i
		}
		l.validateProvider(p, path)
	}
}

func (l *loader) validateCampaigns(c *Campaigns) {
	if c.Retention < 24*time.Hour {
		l.fieldError("campaigns.retention", "must be at least 24h (reports are read after the campaign), not %s", c.Retention)
	}
	if c.FeedInterval < 10*time.Millisecond || c.FeedInterval > time.Minute {
		l.fieldError("campaigns.feed_interval", "must be between 10ms and 1m, not %s", c.FeedInterval)
	}
	if c.StallAfter < time.Second {
		l.fieldError("campaigns.stall_after", "must be at least 1s, not %s", c.StallAfter)
	}
}

func (l *loader) validateAPI(a *API) {
	if _, _, err := net.SplitHostPort(a.Listen); err != nil {
		l.fieldError("api.listen", "%q must be host:port, like 127.0.0.1:8080 or :8080", a.Listen)
	}
	if a.MaxUploadMB < 1 || a.MaxUploadMB > 4096 {
		l.fieldError("api.max_upload_mb", "must be between 1 and 4096, not %d", a.MaxUploadMB)
	}
	names, tokens := map[string]int{}, map[string]int{}
	for i, t := range a.Tokens {
		path := fmt.Sprintf("api.tokens[%d]", i)
		if j, dup := names[t.Name]; dup {
			l.fieldError(path+".name", "%q is already the name of api.tokens[%d]", t.Name, j)
		}
		names[t.Name] = i
		switch {
		case t.Token == "":
			l.fieldError(path+".token", "required (or token_file)")
		case len(t.Token) < minAPITokenLen:
			l.fieldError(path+".token", "must be at least %d characters (try: openssl rand -hex 32)", minAPITokenLen)
		default:
			if j, dup := tokens[t.Token]; dup {
				l.fieldError(path+".token", "is the same as api.tokens[%d]'s; give every client its own", j)
			}
			tokens[t.Token] = i
		}
		if len(t.Scopes) == 0 {
			l.fieldError(path+".scopes", "at least one of %s is required", strings.Join(Scopes, ", "))
		}
		if t.DailyLimit < 0 {
			l.fieldError(path+".daily_limit", "must be 0 (no limit) or more, not %d", t.DailyLimit)
		}
		for j, s := range t.Scopes {
			if !slices.Contains(Scopes, s) {
				l.fieldError(fmt.Sprintf("%s.scopes[%d]", path, j), "%q is not a scope (known: %s)", s, strings.Join(Scopes, ", "))
			}
		}
	}
}

func (l *loader) validateAudit(a *Audit) {
	if a.Retention < time.Hour {
		l.fieldError("audit.retention", "must be at least 1h, not %s", a.Retention)
	}
	if a.MaxRecords < 1000 {
		l.fieldError("audit.max_records", "must be at least 1000, not %d", a.MaxRecords)
	}
}

// validHostName reports whether s is a DNS name (or an IP address):
// letters, digits, hyphens and underscores in dot-separated labels.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	if net.ParseIP(s) != nil {
		return true
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// IsLoopback reports whether a listen address only accepts connections
// from this machine.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *loader) validateProvider(p *Provider, path string) {
	if p.Settings == nil {
		l.fieldError(path+".type", "%s", typeProblem(p.Type))
	} else {
		p.Settings.validate(l, p, path)
	}
	if d := *p.DuplicateWindow; d < 0 || d > maxDuplicateWindow {
		l.fieldError(path+".duplicate_window", "must be between 0 (off) and %s, not %s", maxDuplicateWindow, d)
	}
	if p.Timeout <= 0 || p.Timeout > maxTimeout {
		l.fieldError(path+".timeout", "must be between 1ms and %s, not %s", maxTimeout, p.Timeout)
	}
	if p.AttemptTimeout <= p.Timeout {
		l.fieldError(path+".attempt_timeout", "must be longer than timeout (%s), not %s", p.Timeout, p.AttemptTimeout)
	}
	if slow := p.slowestCall(); slow != 0 && p.AttemptTimeout < slow+p.Timeout {
		l.fieldError(path+".attempt_timeout", "must be at least reset_timeout plus timeout (%s), not %s: a slow mail "+
			"is waited for after the lookup", slow+p.Timeout, p.AttemptTimeout)
	}
	if *p.MailHaltAfter < 0 || *p.MailHaltAfter > 1000 {
		l.fieldError(path+".mail_halt_after", "must be between 0 (never) and 1000, not %d", *p.MailHaltAfter)
	}
	if *p.MailRefusedAfter < 0 || *p.MailRefusedAfter > 100 {
		l.fieldError(path+".mail_refused_after", "must be between 0 (never) and 100, not %d", *p.MailRefusedAfter)
	}
	if *p.MaxRetries < 0 || *p.MaxRetries > 100 {
		l.fieldError(path+".max_retries", "must be between 0 and 100, not %d", *p.MaxRetries)
	}
	if p.Concurrency < 1 || p.Concurrency > 10000 {
		l.fieldError(path+".concurrency", "must be between 1 and 10000, not %d", p.Concurrency)
	}
	if p.RateLimit.N < 0 {
		l.fieldError(path+".rate_limit", "must not be negative")
	}
}

func (l *loader) validateWebhooks(w *Webhooks) {
	if w.Concurrency < 1 || w.Concurrency > 1000 {
		l.fieldError("webhooks.concurrency", "must be between 1 and 1000, not %d", w.Concurrency)
	}
	if w.Timeout <= 0 || w.Timeout > 2*time.Minute {
		l.fieldError("webhooks.timeout", "must be between 1ms and 2m, not %s", w.Timeout)
	}
	if w.ConnectTimeout <= 0 || w.ConnectTimeout > w.Timeout {
		l.fieldError("webhooks.connect_timeout", "must be positive and at most timeout (%s), not %s", w.Timeout, w.ConnectTimeout)
	}
	if len(w.RetrySchedule) > 50 {
		l.fieldError("webhooks.retry_schedule", "at most 50 retries, not %d", len(w.RetrySchedule))
	}
	for i, d := range w.RetrySchedule {
		if d <= 0 {
			l.fieldError(fmt.Sprintf("webhooks.retry_schedule[%d]", i), "must be positive, not %s", d)
		}
	}
	names := map[string]int{}
	for i := range w.Endpoints {
		e := &w.Endpoints[i]
		path := fmt.Sprintf("webhooks.endpoints[%d]", i)
		if err := tasks.ValidateName(e.Name); err != nil {
			l.fieldError(path+".name", "%v", err)
		} else if j, dup := names[e.Name]; dup {
			l.fieldError(path+".name", "%q is already the name of webhooks.endpoints[%d]", e.Name, j)
		} else {
			names[e.Name] = i
		}
		if e.URL == "" {
			l.fieldError(path+".url", "is required")
		} else if err := webhook.CheckURL(e.URL, e.AllowPrivateNetworks); err != nil {
			l.fieldError(path+".url", "%v", err)
		}
		if e.Secret == "" {
			l.fieldError(path+".secret", "is required (or secret_file): a whsec_ secret the receiver verifies with")
		} else if _, err := webhook.ParseSecrets(e.Secret); err != nil {
			l.fieldError(path+".secret", "%v", err) // the message never quotes the secret
		}
		for j, ev := range e.Events {
			if !slices.Contains(webhook.Types, ev) {
				l.fieldError(fmt.Sprintf("%s.events[%d]", path, j), "unknown event %q (known: %s)", ev, strings.Join(webhook.Types, ", "))
			}
		}
	}
}

func (l *loader) checkBaseURL(raw, path string) {
	if raw == "" {
		l.fieldError(path, "is required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		l.fieldError(path, "%q must be an http:// or https:// URL", raw)
	case u.User != nil:
		l.fieldError(path, "must not hold a user name or password; use the auth settings")
	case u.RawQuery != "" || u.Fragment != "":
		l.fieldError(path, "%q must not have a query or fragment", raw)
	case strings.Contains(u.Path, "/admin") || strings.Contains(u.Path, "/realms"):
		l.fieldError(path, "%q should be the server's root (with /auth for old servers), not an admin or realm URL", raw)
	}
}

// redact hides a password in a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
