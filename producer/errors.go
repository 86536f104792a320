package producer

import (
	"errors"

	"github.com/resetq/resetq/internal/campaigns"
)

// ErrInvalidRequest wraps every error that is the request's fault: a bad
// user reference, an unknown action or provider. Retrying it is pointless.
var ErrInvalidRequest = errors.New("invalid request")

// ErrIdempotencyConflict is returned when an idempotency key that names a
// task is used again for a different request (another user, provider,
// actions or meta). Nothing is enqueued: a new request needs a new key.
var ErrIdempotencyConflict = errors.New("idempotency key already used for a different request")

// ErrTaskNotFound is returned for a task ID resetq does not know (or whose
// outcome has expired).
var ErrTaskNotFound = errors.New("task not found")

// ErrCampaignNotFound is returned for a name no campaign has.
var ErrCampaignNotFound = errors.New("campaign not found")

// ErrCampaignState is returned for a change the campaign's status does
// not allow (resuming a completed campaign).
var ErrCampaignState = errors.New("not possible in the campaign's status")

// ErrCampaignExists is returned when the name is taken by a campaign of
// another file.
var ErrCampaignExists = errors.New("campaign name taken")

// sentinels maps the campaign manager's errors to the public ones.
var sentinels = []struct{ internal, public error }{
	{campaigns.ErrInvalid, ErrInvalidRequest},
	{campaigns.ErrNotFound, ErrCampaignNotFound},
	{campaigns.ErrState, ErrCampaignState},
	{campaigns.ErrNameTaken, ErrCampaignExists},
}

// publicError hands an error of the campaign manager on as this package's:
// an InvalidRowsError with the public Scan, and the public sentinel
// beside the manager's, with the message unchanged.
func publicError(err error) error {
	var ire *campaigns.InvalidRowsError
	if errors.As(err, &ire) {
		return &InvalidRowsError{Scan: scanOf(ire.Scan)}
	}
	for _, s := range sentinels {
		if errors.Is(err, s.internal) {
			return &sentinelError{err: err, is: s.public}
		}
	}
	return err
}

// sentinelError is an error of the campaign manager that is also one of
// this package's sentinels.
type sentinelError struct{ err, is error }

func (e *sentinelError) Error() string   { return e.err.Error() }
func (e *sentinelError) Unwrap() []error { return []error{e.is, e.err} }
