package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/resetq/resetq/idp"
)

// Buckets for IdP calls and resets: 5 ms to 60 s. Keycloak sends mail inside
// the request, so seconds are normal and its SMTP timeout is 10 s.
var Buckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics holds every resetq metric.
type Metrics struct {
	Resets             *prometheus.CounterVec
	ResetDuration      *prometheus.HistogramVec
	IdPRequests        *prometheus.CounterVec
	IdPRequestDuration *prometheus.HistogramVec
	TokenRequests      *prometheus.CounterVec
	RateLimitWait      *prometheus.HistogramVec
	ProviderHalted     *prometheus.GaugeVec
	BuildInfo          *prometheus.GaugeVec

	WebhookDeliveries       *prometheus.CounterVec
	WebhookDeliveryDuration *prometheus.HistogramVec
	WebhookEndpointDisabled *prometheus.GaugeVec
}

// New creates the metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := factory{promauto.With(reg)}
	return &Metrics{
		Resets: f.counter("resetq_resets_total",
			"Reset tasks that ended, by provider, outcome (succeeded, skipped, failed) and reason.",
			"provider", "outcome", "reason"),
		ResetDuration: f.histogram("resetq_reset_duration_seconds",
			"Time the final attempt of a reset task took, from dequeue to outcome.",
			"provider", "outcome"),
		IdPRequests: f.counter("resetq_idp_requests_total",
			"HTTP requests to identity providers, by operation (token, lookup, reset, check, confirm) and status code (error when no answer came).",
			"provider", "operation", "code"),
		IdPRequestDuration: f.histogram("resetq_idp_request_duration_seconds",
			"Duration of HTTP requests to identity providers.",
			"provider", "operation"),
		TokenRequests: f.counter("resetq_token_requests_total",
			"Admin token requests, by result (success, rejected, error).",
			"provider", "result"),
		RateLimitWait: f.histogram("resetq_ratelimit_wait_seconds",
			"Time resets waited for the provider's rate limit or an IdP's Retry-After.",
			"provider"),
		ProviderHalted: f.gauge("resetq_provider_halted",
			"1 while a provider is halted (its queue paused until `resetq provider resume`), else 0.",
			"provider"),
		BuildInfo: f.gauge("resetq_build_info",
			"Always 1; labels carry the version, revision and Go version of this build.",
			"version", "revision", "goversion"),
		WebhookDeliveries: f.counter("resetq_webhook_deliveries_total",
			"Webhook delivery attempts, by event type and outcome (delivered, retried, failed, disabled, dropped).",
			"event", "outcome"),
		WebhookDeliveryDuration: f.histogram("resetq_webhook_delivery_duration_seconds",
			"Duration of webhook delivery attempts, by endpoint name.",
			"endpoint"),
		WebhookEndpointDisabled: f.gauge("resetq_webhook_endpoint_disabled",
			"1 while a webhook endpoint is disabled (it answered 410 Gone), else 0.",
			"endpoint"),
	}
}

// factory registers the vectors New declares; histograms share Buckets.
type factory struct{ promauto.Factory }

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return f.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func (f factory) histogram(name, help string, labels ...string) *prometheus.HistogramVec {
	return f.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: Buckets}, labels)
}

// WebhookDelivery counts one delivery attempt (webhook.Observer).
func (m *Metrics) WebhookDelivery(endpoint, event, outcome string, d time.Duration) {
	m.WebhookDeliveries.WithLabelValues(event, outcome).Inc()
	if d > 0 {
		m.WebhookDeliveryDuration.WithLabelValues(endpoint).Observe(d.Seconds())
	}
}

// SetBuildInfo publishes the build's identity.
func (m *Metrics) SetBuildInfo(version, revision string) {
	m.BuildInfo.WithLabelValues(version, revision, runtime.Version()).Set(1)
}

// InitProvider creates a provider's series at zero, so dashboards and alerts
// see them before the first reset.
func (m *Metrics) InitProvider(provider string) {
	m.ProviderHalted.WithLabelValues(provider).Set(0)
	m.Resets.WithLabelValues(provider, "succeeded", "")
	m.Resets.WithLabelValues(provider, "failed", "retries_exhausted")
	m.TokenRequests.WithLabelValues(provider, "success")
}

// HTTPClient returns the HTTP client of one provider: a pooled transport
// that keeps up to maxIdle connections to the IdP (one per concurrent reset,
// so a busy worker does not open and close them), instrumented when m is
// not nil. Each call's deadline comes from its context.
func (m *Metrics) HTTPClient(provider string, maxIdle int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(maxIdle, 2)
	if m == nil {
		return &http.Client{Transport: t}
	}
	return &http.Client{Transport: m.Transport(provider, t)}
}

// Transport instruments a provider's HTTP calls. Requests are labelled with
// the operation the provider tagged them with (idp.WithOperation).
func (m *Metrics) Transport(provider string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		op := idp.Operation(r.Context())
		start := time.Now()
		res, err := next.RoundTrip(r)
		m.IdPRequestDuration.WithLabelValues(provider, op).Observe(time.Since(start).Seconds())
		code := "error"
		if err == nil {
			code = strconv.Itoa(res.StatusCode)
		}
		m.IdPRequests.WithLabelValues(provider, op, code).Inc()
		if op == idp.OpToken {
			result := "error"
			switch {
			case err != nil, res.StatusCode >= 500, res.StatusCode == http.StatusTooManyRequests:
			case res.StatusCode >= 400:
				result = "rejected"
			case res.StatusCode < 300:
				result = "success"
			}
			m.TokenRequests.WithLabelValues(provider, result).Inc()
		}
		return res, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
