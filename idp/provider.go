package idp

import "context"

// Provider sends password resets through one identity provider.
//
// Reset must honour ctx: when it is done, Reset returns promptly. It must be
// safe for concurrent use. It returns nil when the IdP accepted the request,
// and otherwise an error for which AsError finds an *Error (a plain error is
// treated as transient).
type Provider interface {
	Reset(ctx context.Context, req Request) error
}

// Request is one reset.
type Request struct {
	// TaskID identifies the task; providers may pass it on as an idempotency
	// key where the IdP supports one.
	TaskID string
	// User holds exactly one reference.
	User UserRef
	// Actions are the required actions to request; empty means the
	// provider's configured default.
	Actions []string
	// Pace, when set, is called once right before the call that sends the
	// reset, after any lookup: the caller's rate limit covers the emails,
	// and what reaches the IdP keeps its pace however long lookups take.
	// An error from it ends Reset with that error, and nothing is sent.
	Pace func(ctx context.Context) error
}

// Paced calls Pace, when it is set: a provider calls it right before the
// call that sends the reset.
func (r Request) Paced(ctx context.Context) error {
	if r.Pace == nil {
		return nil
	}
	return r.Pace(ctx)
}

// UserRef names a user by exactly one of its fields.
type UserRef struct {
	Email    string
	Username string
	ID       string
}

// Checker is implemented by providers that can verify their configuration
// with a harmless read: credentials, permissions, realm or account, base path.
type Checker interface {
	// Check returns nil when the provider is ready for work, and otherwise
	// an *Error whose Hint says plainly what to fix.
	Check(ctx context.Context) (CheckReport, error)
}

// CheckReport is what a successful Check learned, in words for an operator.
type CheckReport struct {
	// Lines are facts, one per line ("token: client_credentials grant from
	// realm master, expires in 300s").
	Lines []string
	// Warnings are things that work but deserve attention.
	Warnings []string
}

// Releaser is implemented by providers that hold something at the IdP that
// would outlive the process unless given back, such as a token minted at
// start-up. The owner calls Release once no Reset or Check is running.
type Releaser interface {
	// Release gives back what the provider holds. Afterwards the provider
	// mints nothing new.
	Release(ctx context.Context) error
}
