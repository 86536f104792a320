package tasks

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Task IDs are "r-" followed by 32 hex digits. Derived IDs hash the provider
// and the key, so the same key on two providers names two tasks, and the ID
// reveals neither the key nor the user.
const taskIDPrefix = "r-"

// TaskID derives the task ID of a reset from its provider and idempotency
// key. The same inputs always give the same ID, which is how a repeated
// request is recognised as a duplicate instead of sending a second email.
func TaskID(provider, idempotencyKey string) string {
	h := sha256.New()
	h.Write([]byte("resetq/v1\x00"))
	h.Write([]byte(provider))
	h.Write([]byte{0})
	h.Write([]byte(idempotencyKey))
	return taskIDPrefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// CampaignKey is the idempotency key of one user's reset within a campaign.
func CampaignKey(campaign string, u User) string {
	return "campaign\x00" + campaign + "\x00" + u.Kind() + "\x00" + strings.ToLower(u.Value())
}

// CampaignTaskID is the task ID of one user's reset within a campaign: a
// user listed twice, or a campaign started twice, is one task.
func CampaignTaskID(provider, campaign string, u User) string {
	return TaskID(provider, CampaignKey(campaign, u))
}

// CampaignRowHeader is the Asynq task header that carries a campaign
// task's row number (from 0, in file order). It travels beside payload v1,
// which it leaves unchanged.
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
