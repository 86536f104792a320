package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/resetq/resetq/tasks"
)

// Event types.
const (
	ResetSucceeded    = "reset.succeeded"
	ResetSkipped      = "reset.skipped"
	ResetFailed       = "reset.failed"
	CampaignCompleted = "campaign.completed"
	ProviderHalted    = "provider.halted"
	ProviderResumed   = "provider.resumed"
)

// Types lists every event type, in the order the documentation gives them.
var Types = []string{ResetSucceeded, ResetSkipped, ResetFailed, CampaignCompleted, ProviderHalted, ProviderResumed}

// Event is one event before it is addressed to endpoints.
type Event struct {
	// ID is the webhook-id: stable for this event however often it is
	// emitted or retried.
	ID        string
	Type      string
	Timestamp time.Time
	// Data is the event's data object. A ResetData's user is rendered per
	// endpoint (the address, or a keyed hash of it).
	Data any
}

// ResetData is the data of reset.* events.
type ResetData struct {
	TaskID   string            `json:"task_id"`
	Provider string            `json:"provider"`
	User     tasks.User        `json:"-"`
	Outcome  tasks.Outcome     `json:"outcome"`
	Reason   string            `json:"reason"`
	Attempts int               `json:"attempts"`
	Campaign string            `json:"campaign"`
	Meta     map[string]string `json:"meta"`
	// Requester is who asked for the reset; its actor is "" for a task
	// queued before requesters were recorded.
	Requester tasks.Requester `json:"requester"`
}

// HaltData is the data of provider.halted.
type HaltData struct {
	Provider string    `json:"provider"`
	Reason   string    `json:"reason"`
	Hint     string    `json:"hint"`
	Since    time.Time `json:"since"`
}

// ResumeData is the data of provider.resumed.
type ResumeData struct {
	Provider    string    `json:"provider"`
	HaltedSince time.Time `json:"halted_since"`
	Reason      string    `json:"reason"`
	Requeued    int       `json:"requeued"`
}

// CampaignData is the data of campaign.completed.
type CampaignData struct {
	Campaign string `json:"campaign"`
	Provider string `json:"provider"`
	// Status is completed, or cancelled when a cancel ended it.
	Status string `json:"status"`
	// Totals counts the rows by outcome: succeeded, skipped, failed,
	// cancelled.
	Totals map[string]int `json:"totals"`
	// StartedAt is nil for a campaign cancelled before it started.
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at"`
}

// messageID derives a webhook-id from what the event is about. It holds
// only [a-z0-9_], never a dot, as the standard requires.
func messageID(parts ...string) string {
	h := sha256.New()
	h.Write([]byte("resetq/webhook/v1"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// ResetEvent is the event of a finished reset task.
func ResetEvent(r tasks.Result, u tasks.User, meta map[string]string) Event {
	typ := map[tasks.Outcome]string{tasks.Succeeded: ResetSucceeded, tasks.Skipped: ResetSkipped, tasks.Failed: ResetFailed}[r.Outcome]
	if meta == nil {
		meta = map[string]string{}
	}
	return Event{
		ID: messageID(r.TaskID, typ), Type: typ, Timestamp: r.FinishedAt.UTC(),
		Data: ResetData{TaskID: r.TaskID, Provider: r.Provider, User: u, Outcome: r.Outcome, Reason: r.Reason,
			Attempts: r.Attempts, Campaign: r.Campaign, Meta: meta, Requester: r.Requester},
	}
}

// HaltEvent is the event of a provider halting.
func HaltEvent(provider, reason, hint string, since time.Time) Event {
	return Event{ID: messageID("halt", provider, since.UTC().Format(time.RFC3339Nano)), Type: ProviderHalted,
		Timestamp: since.UTC(), Data: HaltData{Provider: provider, Reason: reason, Hint: hint, Since: since.UTC()}}
}

// ResumeEvent is the event of a provider resuming after a halt.
func ResumeEvent(provider, reason string, haltedSince time.Time, requeued int, at time.Time) Event {
	return Event{ID: messageID("resume", provider, haltedSince.UTC().Format(time.RFC3339Nano)), Type: ProviderResumed,
		Timestamp: at.UTC(), Data: ResumeData{Provider: provider, HaltedSince: haltedSince.UTC(), Reason: reason, Requeued: requeued}}
}

// CampaignEvent is the event of a campaign finishing.
func CampaignEvent(d CampaignData) Event {
	return Event{ID: messageID("campaign", d.Campaign), Type: CampaignCompleted, Timestamp: d.FinishedAt.UTC(), Data: d}
}

// envelope is the JSON body of every event.
type envelope struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Body renders the event for one endpoint. includeUser false replaces a
// reset's user with {"ref": "hmac-sha256:…"}, keyed with the endpoint's
// first secret: the receiver, who holds the secret, can compute it for an
// address it knows; nobody else can reverse it.
func (e Event) Body(includeUser bool, key []byte) ([]byte, error) {
	data := e.Data
	if rd, ok := data.(ResetData); ok {
		type withUser struct {
			ResetData
			User any `json:"user"`
		}
		var user any = rd.User
		if !includeUser {
			user = map[string]string{"ref": UserRef(key, rd.User)}
		}
		data = withUser{rd, user}
	}
	return json.Marshal(envelope{Type: e.Type, Timestamp: e.Timestamp, Data: data})
}

// UserRef is the keyed hash that stands for a user in events sent with
// include_user: false. The reference is lower-cased first, as IdPs match
// emails and usernames ignoring case.
func UserRef(key []byte, u tasks.User) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(u.Kind() + ":" + strings.ToLower(u.Value())))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// Sample returns an example event of a type, as `resetq webhook test`
// sends it.
func Sample(eventType string, at time.Time) (Event, error) {
	at = at.UTC().Truncate(time.Second)
	switch eventType {
	case ResetSucceeded, ResetSkipped, ResetFailed:
		r := tasks.Result{TaskID: tasks.TaskID(nil, "", "example", "sample"), Provider: "example", Attempts: 1, FinishedAt: at,
			Requester: tasks.Requester{Actor: "api:helpdesk", Address: "192.0.2.10"}}
		switch eventType {
		case ResetSucceeded:
			r.Outcome = tasks.Succeeded
		case ResetSkipped:
			r.Outcome, r.Reason = tasks.Skipped, tasks.ReasonUserNotFound
		default:
			r.Outcome, r.Reason, r.Attempts = tasks.Failed, tasks.ReasonRetriesExhausted, 11
		}
		return ResetEvent(r, tasks.User{Email: "alice@example.com"}, map[string]string{"ticket": "HD-4411"}), nil
	case ProviderHalted:
		return HaltEvent("example", "configuration", "realm \"example\" has no usable mail sender", at), nil
	case ProviderResumed:
		return ResumeEvent("example", "configuration", at.Add(-time.Hour), 3, at), nil
	case CampaignCompleted:
		started := at.Add(-time.Hour)
		return CampaignEvent(CampaignData{Campaign: "example", Provider: "example", Status: "completed",
			Totals: map[string]int{"succeeded": 990, "skipped": 9, "failed": 1, "cancelled": 0}, StartedAt: &started, FinishedAt: at}), nil
	}
	return Event{}, fmt.Errorf("unknown event type %q (known: %s)", eventType, strings.Join(Types, ", "))
}
