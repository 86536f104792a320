package keygentest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// broadcast fires user.password-reset to the account's webhook endpoint, as
// BroadcastEventService does, with the raw reset token in the payload's
// meta. The caller holds the lock; delivery happens in the background.
func (s *Server) broadcast(a *Account, u *User, rawToken string) {
	if a.WebhookURL == "" {
		return
	}
	payload, _ := json.Marshal(map[string]any{
		"data": s.userDoc(a, u),
		"meta": map[string]string{"passwordResetToken": rawToken},
	})
	eventID, now := newID(), s.Now().UTC()
	doc, _ := json.Marshal(map[string]any{"data": map[string]any{
		"id": eventID, "type": "webhook-events",
		"attributes": map[string]any{
			"endpoint": a.WebhookURL, "apiVersion": APIVersion,
			// Keygen sends the payload as a JSON string inside the JSON.
			"payload": string(payload), "event": "user.password-reset", "status": "DELIVERING",
			"lastResponseCode": nil, "lastResponseBody": nil, "created": now, "updated": now,
		},
		"relationships": map[string]any{"account": map[string]any{"data": map[string]string{"type": "accounts", "id": a.ID}}},
		"links":         map[string]string{"self": "/v1/accounts/" + a.ID + "/webhook-events/" + eventID},
	}})
	target, accountID, retries, backoff := a.WebhookURL, a.ID, s.retries, s.backoff
	s.webhookWait.Add(1)
	go func() {
		defer s.webhookWait.Done()
		s.deliver(target, accountID, eventID, doc, retries, backoff)
	}()
}

func (s *Server) deliver(target, accountID, eventID string, body []byte, retries int, backoff time.Duration) {
	for attempt := 1; ; attempt++ {
		status, err := s.post(target, accountID, body)
		d := Delivery{Time: s.Now(), Event: "user.password-reset", EventID: eventID, Attempt: attempt, Status: status}
		if err != nil {
			d.Err = err.Error()
		}
		s.mu.Lock()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		if err == nil && status >= 200 && status < 300 || attempt > retries {
			return
		}
		time.Sleep(backoff << (attempt - 1))
	}
}

// post sends one signed delivery: Digest, Date, and an ed25519
// Keygen-Signature over (request-target), host, date and digest.
func (s *Server) post(target, accountID string, body []byte) (int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(body)
	digest := "sha-256=" + base64.StdEncoding.EncodeToString(sum[:])
	date := s.Now().UTC().Format(http.TimeFormat)
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	signing := fmt.Sprintf("(request-target): post %s\nhost: %s\ndate: %s\ndigest: %s", path, u.Host, date, digest)
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
	h.Set("X-Signature", base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, body))) // legacy [infer]
	res, err := s.hook.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// VerifyWebhook checks a delivery's Keygen-Signature the way a receiver
// would, for tests of receivers.
func VerifyWebhook(pub ed25519.PublicKey, r *http.Request, body []byte) error {
	sum := sha256.Sum256(body)
	digest := "sha-256=" + base64.StdEncoding.EncodeToString(sum[:])
	if r.Header.Get("Digest") != digest {
		return fmt.Errorf("digest mismatch")
	}
	var sig string
	for _, part := range strings.Split(r.Header.Get("Keygen-Signature"), ", ") {
		if v, ok := strings.CutPrefix(part, "signature="); ok {
			sig = strings.Trim(v, `"`)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	signing := fmt.Sprintf("(request-target): post %s\nhost: %s\ndate: %s\ndigest: %s", r.URL.EscapedPath(), r.Host, r.Header.Get("Date"), digest)
	if !ed25519.Verify(pub, []byte(signing), raw) {
		return fmt.Errorf("signature does not verify")
	}
	return nil
}
