package keygentest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// EventPasswordReset is the event a reset fires.
const EventPasswordReset = "user.password-reset"

// WebhookMaxAge is how old a delivery's Date may be for VerifyWebhook.
const WebhookMaxAge = 5 * time.Minute

// broadcast fires user.password-reset as BroadcastWebhookService does: to
// each endpoint subscribed to it (or to *) in the user's own environment,
// strictly, and to a product's endpoint only for a user with role user.
// The raw reset token is in the payload's meta. The caller holds the lock;
// delivery happens in the background.
func (s *Server) broadcast(a *Account, u *User, rawToken string) {
	payload, _ := json.Marshal(map[string]any{
		"data": s.userDoc(a, u),
		"meta": map[string]string{"passwordResetToken": rawToken},
	})
	for _, e := range a.endpoints {
		if !e.subscribed(EventPasswordReset) || e.Environment != u.Environment || e.Product != "" && u.Role != "user" {
			continue
		}
		eventID, now := emulator.NewID(), s.Now().UTC()
		doc, _ := json.Marshal(map[string]any{"data": map[string]any{
			"id": eventID, "type": "webhook-events",
			"attributes": map[string]any{
				"endpoint": e.URL, "apiVersion": APIVersion,
				// Keygen sends the payload as a JSON string inside the JSON.
				"payload": string(payload), "event": EventPasswordReset, "status": "DELIVERING",
				"lastResponseCode": nil, "lastResponseBody": nil, "created": now, "updated": now,
			},
			"relationships": map[string]any{"account": map[string]any{"data": map[string]string{"type": "accounts", "id": a.ID}}},
			"links":         map[string]string{"self": "/v1/accounts/" + a.ID + "/webhook-events/" + eventID},
		}})
		target, accountID, retries, backoff := e, a.ID, s.retries, s.backoff
		s.webhookWait.Add(1)
		go func() {
			defer s.webhookWait.Done()
			s.deliver(target, accountID, eventID, doc, retries, backoff)
		}()
	}
}

// deliver is WebhookWorker: a non-2xx answer, a timeout or a TLS error is
// retried; a refused or reset connection, an unreachable host, a failed DNS
// lookup or an early EOF marks the event FAILED at once, never retried; a
// 410 disables the endpoint.
func (s *Server) deliver(e *WebhookEndpoint, accountID, eventID string, body []byte, retries int, backoff time.Duration) {
	for attempt := 1; ; attempt++ {
		status, err := s.post(e.URL, accountID, body)
		d := Delivery{Time: s.Now(), Event: EventPasswordReset, EventID: eventID, Endpoint: e.ID, Attempt: attempt, Status: status}
		if err != nil {
			d.Err = err.Error()
		}
		final := err == nil && status >= 200 && status < 300 || attempt > retries || err != nil && notRetried(err) || status == http.StatusGone
		s.mu.Lock()
		if final && !(err == nil && status < 300) {
			d.Failed = true
		}
		if status == http.StatusGone {
			e.Subscriptions = []string{} // WebhookEndpoint#disable!
		}
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		if final {
			return
		}
		time.Sleep(backoff << (attempt - 1))
	}
}

// notRetried reports the errors WebhookWorker rescues without raising, so
// that Sidekiq never retries them.
func notRetried(err error) bool {
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.As(err, &dns) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// requestTarget is what Keygen signs as the request target: the endpoint
// URL's path (/ when empty) and its query, as they are written in the URL.
func requestTarget(u *url.URL) string {
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return path
}

func signingString(target, host, date, digest string) string {
	return fmt.Sprintf("(request-target): post %s\nhost: %s\ndate: %s\ndigest: %s", target, host, date, digest)
}

func digestOf(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// post sends one signed delivery: Digest, Date, and an ed25519
// Keygen-Signature over (request-target), host (without its port), date
// and digest. Accounts made today get no legacy X-Signature.
func (s *Server) post(target, accountID string, body []byte) (int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, err
	}
	digest := digestOf(body)
	date := s.Now().UTC().Format(http.TimeFormat)
	signing := signingString(requestTarget(u), u.Hostname(), date, digest)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, []byte(signing)))
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Keygen/"+APIVersion+" (+https://keygen.sh/docs/api/webhooks/)")
	h.Set("Date", date)
	h.Set("Digest", digest)
	h.Set("Keygen-Date", date)
	h.Set("Keygen-Digest", digest)
	h.Set("Keygen-Version", APIVersion)
	h.Set("Keygen-Signature", fmt.Sprintf(`keyid="%s", algorithm="ed25519", signature="%s", headers="(request-target) host date digest"`, accountID, sig))
	res, err := s.hook.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// VerifyWebhook checks a delivery's Keygen-Signature the way a receiver
// should, at the current time: see VerifyWebhookAt.
func VerifyWebhook(pub ed25519.PublicKey, r *http.Request, body []byte) error {
	return VerifyWebhookAt(pub, r, body, time.Now())
}

// VerifyWebhookAt checks a delivery as a receiver should: the Digest is the
// body's; the Date is within WebhookMaxAge of now (an old delivery replayed
// is refused); and the ed25519 signature covers the string Keygen builds:
// the request target as sent (path and query), the Host without its port,
// the Date and the Digest.
func VerifyWebhookAt(pub ed25519.PublicKey, r *http.Request, body []byte, now time.Time) error {
	digest := digestOf(body)
	if r.Header.Get("Digest") != digest {
		return errors.New("digest mismatch")
	}
	date := r.Header.Get("Date")
	at, err := http.ParseTime(date)
	if err != nil {
		return fmt.Errorf("date %q is not an HTTP date", date)
	}
	if age := now.Sub(at); age > WebhookMaxAge || age < -WebhookMaxAge {
		return fmt.Errorf("date %s is not within %s of now", date, WebhookMaxAge)
	}
	params := signatureParams(r.Header.Get("Keygen-Signature"))
	if params["algorithm"] != "ed25519" {
		return fmt.Errorf("algorithm %q is not ed25519", params["algorithm"])
	}
	if params["headers"] != "(request-target) host date digest" {
		return fmt.Errorf("signed headers %q are not Keygen's", params["headers"])
	}
	raw, err := base64.StdEncoding.DecodeString(params["signature"])
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	target := r.RequestURI // the target as it came over the wire
	if target == "" {
		target = requestTarget(r.URL)
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !ed25519.Verify(pub, []byte(signingString(target, host, date, digest)), raw) {
		return errors.New("signature does not verify")
	}
	return nil
}

// signatureParams reads key="value" pairs, separated by commas.
func signatureParams(h string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			out[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	return out
}
