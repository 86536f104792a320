package tasks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"slices"
	"strings"
)

// Task IDs are "r-" followed by 32 hex digits. Derived IDs are an HMAC of
// the scope, the provider and the key under the deployment's task-ID key:
// the same key on two providers, or from two API clients, names two tasks;
// the ID reveals neither the key nor the user; and nobody without the
// deployment's secret can compute the ID of a request from a guessed key.
const taskIDPrefix = "r-"

// TaskID derives the task ID of a reset from the deployment's task-ID key
// (secret), the scope of the caller's idempotency keys, the provider and
// the idempotency key. The same inputs always give the same ID, which is how
// a repeated request is recognised as a duplicate instead of sending a
// second email.
func TaskID(secret []byte, scope, provider, idempotencyKey string) string {
	return derivedID(secret, "reset", scope, provider, idempotencyKey)
}

// CampaignKey is the idempotency key of one user's reset within a campaign.
func CampaignKey(campaign string, u User) string {
	return "campaign\x00" + campaign + "\x00" + u.Kind() + "\x00" + strings.ToLower(u.Value())
}

// CampaignTaskID is the task ID of one user's reset within a campaign: a
// user listed twice, or a campaign started twice, is one task. secret is
// the deployment's task-ID key, as for TaskID.
func CampaignTaskID(secret []byte, provider, campaign string, u User) string {
	return derivedID(secret, "campaign", "", provider, CampaignKey(campaign, u))
}

// LegacyCampaignTaskID is the unkeyed task ID that builds before keyed
// task IDs gave the rows of a campaign. Such a campaign keeps its IDs to
// the end, so that its queued tasks are still found.
func LegacyCampaignTaskID(provider, campaign string, u User) string {
	h := sha256.New()
	h.Write([]byte("resetq/v1\x00"))
	h.Write([]byte(provider))
	h.Write([]byte{0})
	h.Write([]byte(CampaignKey(campaign, u)))
	return taskIDPrefix + hex.EncodeToString(h.Sum(nil)[:16])
}

func derivedID(secret []byte, kind string, parts ...string) string {
	m := hmac.New(sha256.New, secret)
	writeParts(m, append([]string{"resetq/task-id/v2", kind}, parts...)...)
	return taskIDPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// writeParts writes each part with its length first, so no two lists of
// parts write the same bytes.
func writeParts(h hash.Hash, parts ...string) {
	for _, p := range parts {
		h.Write(binary.AppendUvarint(nil, uint64(len(p))))
		h.Write([]byte(p))
	}
}

// Fingerprint identifies what a payload asks for — provider, user, actions
// and meta — under the deployment's fingerprint key (secret), so that a
// stored fingerprint does not reveal the user to someone who guesses
// addresses. It is canonical: the order of meta entries and of actions, a
// repeated action and the case of an email address do not change it. The
// idempotency key, campaign and request time are not part of it.
func (p *Payload) Fingerprint(secret []byte) string {
	actions := slices.Clone(p.Actions)
	slices.Sort(actions)
	actions = slices.Compact(actions)
	u := p.User
	u.Email = strings.ToLower(u.Email)
	meta := p.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	// encoding/json writes map keys sorted, and escapes alike every time.
	b, _ := json.Marshal(struct {
		Provider string            `json:"p"`
		User     User              `json:"u"`
		Actions  []string          `json:"a"`
		Meta     map[string]string `json:"m"`
	}{p.Provider, u, append([]string{}, actions...), meta})
	m := hmac.New(sha256.New, secret)
	writeParts(m, "resetq/fingerprint/v1", string(b))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// CampaignRowHeader is the Asynq task header in which builds before the
// payload's campaign_row field carried a campaign task's row number. A
// worker still reads it from tasks such a build queued.
const CampaignRowHeader = "resetq-row"

// RandomTaskID returns a fresh task ID for a request without an idempotency
// key.
func RandomTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return taskIDPrefix + hex.EncodeToString(b[:])
}

// ValidTaskID reports whether s has the shape of a resetq task ID.
func ValidTaskID(s string) bool {
	if !strings.HasPrefix(s, taskIDPrefix) || len(s) != len(taskIDPrefix)+32 {
		return false
	}
	_, err := hex.DecodeString(s[len(taskIDPrefix):])
	return err == nil
}
