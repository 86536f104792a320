package worker

import (
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/tasks"
)

// Action is what the worker does with a task after an attempt.
type Action int

// Actions.
const (
	// Done: the IdP accepted the reset (or, with Reason unconfirmed, got
	// it and may have sent it: its answer was lost).
	Done Action = iota
	// Retry: try again, within the attempt and then across attempts.
	Retry
	// Skip: nothing to do for this user; the task ends skipped.
	Skip
	// Fail: the request is wrong; the task ends failed.
	Fail
	// Halt: no retry can fix this and every task would fail alike; pause
	// the provider's queue and keep the tasks.
	Halt
)

var actionNames = [...]string{Done: "done", Retry: "retry", Skip: "skip", Fail: "fail", Halt: "halt"}

func (a Action) String() string { return actionNames[a] }

// Decision is the classification of one attempt's result.
type Decision struct {
	Action Action
	// Reason is the snake_case reason reported with skipped and failed
	// outcomes and with halts.
	Reason string
	// RetryAfter is how long the IdP asked us to wait, for Retry.
	RetryAfter time.Duration
	// Err is the provider's error, nil for Done.
	Err *idp.Error
	// Wait marks a Retry that waits for a rate limit, resetq's or the
	// IdP's: it is no failure, uses up no try, and never ends the task.
	Wait bool
	// parked: the provider was halted while the task waited for its place
	// at the IdP; the task waits for the resume, untried.
	parked bool
}

// ends are the kinds that end a task at once, skipped (nothing to do for
// this user) or failed (the request is wrong), with their reasons.
var ends = map[idp.Kind]Decision{
	idp.UserNotFound:     {Action: Skip, Reason: tasks.ReasonUserNotFound},
	idp.AmbiguousUser:    {Action: Skip, Reason: tasks.ReasonAmbiguousUser},
	idp.UserDisabled:     {Action: Skip, Reason: tasks.ReasonUserDisabled},
	idp.UserNoEmail:      {Action: Skip, Reason: tasks.ReasonNoEmail},
	idp.RecipientRefused: {Action: Skip, Reason: tasks.ReasonRecipientRefused},
	idp.InvalidAction:    {Action: Fail, Reason: tasks.ReasonInvalidAction},
	idp.InvalidRequest:   {Action: Fail, Reason: tasks.ReasonInvalidRequest},
}

// Classify maps the result of a provider call to what happens to the task.
// It is the one place where error kinds become outcomes.
func Classify(err error) Decision {
	if err == nil {
		return Decision{Action: Done}
	}
	e := idp.AsError(err)
	if end, ok := ends[e.Kind]; ok {
		end.Err = e
		return end
	}
	d := Decision{Err: e, Reason: e.Kind.String()}
	switch e.Kind {
	case idp.RateLimited:
		d.Action, d.RetryAfter, d.Wait = Retry, e.RetryAfter, true
	case idp.Credentials, idp.Permission, idp.Configuration:
		d.Action = Halt
	case idp.Unconfirmed:
		// Sending again risks a second mail with a second working link;
		// the task ends succeeded, marked, and the operator can see it.
		d.Action, d.Reason = Done, tasks.ReasonUnconfirmed
	case idp.MailFailed:
		// Retried, unless the provider's recent mail says otherwise
		// (judgeMail): a relay down halts, a recipient refused is skipped.
		d.Action = Retry
	default: // idp.Transient and anything unknown
		d.Action, d.RetryAfter = Retry, e.RetryAfter
	}
	return d
}
