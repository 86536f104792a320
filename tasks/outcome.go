package tasks

import "time"

// Outcome is how a reset task ended. Every task ends in exactly one.
type Outcome string

// The three outcomes.
const (
	// Succeeded: the IdP accepted the request.
	Succeeded Outcome = "succeeded"
	// Skipped: nothing to do for this user; Reason says why.
	Skipped Outcome = "skipped"
	// Failed: the request itself is wrong, or retries ran out.
	Failed Outcome = "failed"
)

// Reasons for skipped and failed outcomes, and the one reason a success can
// carry (unconfirmed). They are metric label values, so the set is closed
// and small.
const (
	// ReasonUnconfirmed marks a success whose answer never came: the IdP
	// got the request and may have sent the mail, so it is not sent again.
	ReasonUnconfirmed = "unconfirmed"
	// ReasonRecipientRefused: the IdP or its mail relay refuses this
	// user's address.
	ReasonRecipientRefused = "recipient_refused"
	ReasonUserNotFound     = "user_not_found"
	ReasonAmbiguousUser    = "ambiguous_user"
	ReasonUserDisabled     = "user_disabled"
	ReasonNoEmail          = "no_email"
	ReasonRecentlyReset    = "recently_reset"
	ReasonInvalidAction    = "invalid_action"
	ReasonInvalidRequest   = "invalid_request"
	ReasonInvalidPayload   = "invalid_payload"
	ReasonUnknownProvider  = "unknown_provider"
	ReasonRetriesExhausted = "retries_exhausted"
)

// Reasons a campaign's row can end with that no task gives: the row never
// became a task. Its outcome record carries them as a task's carries the
// reasons above.
const (
	// ReasonDuplicateRow: the same user appears earlier in the file.
	ReasonDuplicateRow = "duplicate_row"
	// ReasonInvalidRow: the row could not be read, and the campaign was
	// started to record such rows as failed.
	ReasonInvalidRow = "invalid_row"
	// ReasonCancelled: the campaign was cancelled before the row was sent.
	ReasonCancelled = "cancelled"
)

// Result is the record a finished task leaves behind. Producers read it to
// report an outcome; workers read it to avoid repeating a reset the IdP has
// already accepted.
type Result struct {
	TaskID     string    `json:"task_id"`
	Provider   string    `json:"provider"`
	Outcome    Outcome   `json:"outcome"`
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts"`
	Campaign   string    `json:"campaign,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
	// Requester is who asked for the reset (none for a task queued before
	// requesters were recorded).
	Requester Requester `json:"requester,omitzero"`
}
