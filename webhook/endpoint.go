package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"code.dny.dev/ssrf"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Endpoint is one receiver of events.
type Endpoint struct {
	// Name identifies the endpoint in metrics, logs and `resetq webhook`.
	Name string
	URL  string
	// Secrets sign every delivery, each giving one signature, so a receiver
	// can switch keys without missing events. Each is whsec_ and base64.
	Secrets []string
	// Events the endpoint subscribes to; empty means all.
	Events []string
	// IncludeUser false sends a keyed hash instead of the user's address.
	IncludeUser bool
	// AllowPrivateNetworks lets deliveries reach loopback, private and
	// link-local addresses (internal receivers). Off by default.
	AllowPrivateNetworks bool
}

// Wants reports whether the endpoint subscribes to an event type.
func (e Endpoint) Wants(eventType string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, eventType)
}

// key is the endpoint's first secret, decoded: it keys user references.
func (e Endpoint) key() []byte {
	if len(e.Secrets) == 0 {
		return nil
	}
	k, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(e.Secrets[0], "whsec_"))
	return k
}

// ParseSecrets reads one or more whsec_ secrets separated by spaces or
// newlines (a rotation: the new one and the old one).
func ParseSecrets(s string) ([]string, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("no secret")
	}
	for _, f := range fields {
		raw, ok := strings.CutPrefix(f, "whsec_")
		if !ok {
			return nil, errors.New("a secret must start with whsec_ (generate one with `resetq webhook test` or: echo whsec_$(head -c 32 /dev/urandom | base64))")
		}
		key, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return nil, errors.New("the part after whsec_ is not base64")
		}
		if len(key) < 24 || len(key) > 64 {
			return nil, fmt.Errorf("the key is %d bytes; Standard Webhooks wants 24 to 64", len(key))
		}
	}
	return fields, nil
}

// CheckURL checks an endpoint's URL where it is configured: http or https,
// no user info, https unless private networks are allowed, and no literal
// private address (or localhost) without the flag. The real check happens
// again when each delivery dials, after DNS.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%q is not a URL", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q must be an https:// URL", raw)
	case u.User != nil:
		return errors.New("the URL must not hold a user name or password")
	case u.Scheme == "http" && !allowPrivate:
		return fmt.Errorf("%q is plain http: use https, or set allow_private_networks: true for an internal receiver", raw)
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return fmt.Errorf("%s is this machine: set allow_private_networks: true to deliver to it", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := guardian.SafeAddr(ip); err != nil {
			return fmt.Errorf("%s is a private, loopback or link-local address: set allow_private_networks: true to deliver to it", host)
		}
	}
	return nil
}

// guardian refuses connections to the special-purpose address ranges of
// IANA's registries: loopback, RFC 1918, CGNAT, link-local (cloud metadata),
// multicast, and their IPv6 kin. Any port is allowed.
var guardian = ssrf.New(ssrf.WithAnyPort())

// dialer returns the dialer of deliveries to an endpoint.
func dialer(connectTimeout time.Duration, allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = guardian.Safe // after DNS, on the address really dialled
	}
	return d
}

// Sign returns the webhook-signature header value: one v1 signature per
// secret, space-separated.
func Sign(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return "", fmt.Errorf("secret: %w", err)
		}
		sig, err := wh.Sign(msgID, ts, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}
