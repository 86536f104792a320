// Package idptest is the conformance suite every provider runs against its
// emulator: one set of behaviours, written once, that a provider must show
// to be done. It checks the seam the worker relies on — which error kind
// comes back for which trouble — not any IdP's wire format, which each
// provider's own tests pin down.
package idptest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/emulator"
)

// Env is one provider wired to a fresh emulator, with the knobs the suite
// needs. Every field is required, but for the four Faults can play.
type Env struct {
	// Provider is configured against the emulator.
	Provider idp.Provider
	// Accepts is what the provider package declares it finds users by.
	Accepts idp.UserRefs
	// Known is a user a reset goes out to; Unknown is one nobody has.
	Known, Unknown idp.UserRef
	// Sent counts the resets the emulator accepted for Known.
	Sent func() int
	// Faults, when set, plays those of FailNext, RateLimitNext, SetLatency
	// and SlowReset that are nil, on ResetEndpoint.
	Faults        Faults
	ResetEndpoint emulator.Endpoint
	// FailNext makes the next n reset calls fail with status (a 5xx) and
	// body ("" for the IdP's usual one).
	FailNext func(n, status int, body string)
	// RateLimitNext makes the next reset call answer 429 with Retry-After.
	RateLimitNext func(retryAfter time.Duration)
	// RejectCredentials makes the IdP refuse the provider's credentials
	// from now on, even freshly issued ones.
	RejectCredentials func()
	// ExpireTokens expires every token the IdP issued, and TokenRequests
	// counts how often the provider asked for one. Both are nil for a
	// provider that mints no token (a static API key, or none): the token
	// expiry case does not apply to it.
	ExpireTokens  func()
	TokenRequests func() int
	// HideUnknown, when set, makes the IdP answer a reset for an unknown
	// user as it answers one for a known user (email enumeration
	// protection: Firebase's option, Kratos' only way). The provider,
	// configured to look users up, must still find the user unknown. Nil
	// for an IdP that always tells.
	HideUnknown func()
	// PasswordWorks, when set, says whether Known can still sign in with
	// the password they had before the reset; KeepsPassword is what the
	// provider, as configured, promises about it (Okta's admin reset and
	// Cognito's AdminResetUserPassword lock the user out until they finish;
	// a forgot-password mail does not). Nil where the emulator does not
	// model sign-in.
	PasswordWorks func() bool
	KeepsPassword bool
	// QuotesNoPage says the provider quotes no part of an answer that is
	// not the IdP's (a vendor's SDK reads it): the echo case then checks
	// only that no secret reaches the error.
	QuotesNoPage bool
	// OneCall says the reset is the provider's only call (no token, no
	// lookup before it): a cut there came after the reset went out, so it
	// is Unconfirmed, not Transient.
	OneCall bool
	// SetLatency delays every answer.
	SetLatency func(time.Duration)
	// SlowReset makes the IdP carry out every reset at once but answer
	// it d later (0: at once), as Keycloak does behind a slow mail relay.
	SlowReset func(d time.Duration)
	// Secrets are strings no error may contain: client secrets,
	// passwords, issued tokens (read after the case ran).
	Secrets func() []string
	// Held are the secrets the provider holds now: its configured secret
	// or password, and the token it uses (none against an emulator whose
	// admin credential is well known).
	Held func() []string
}

// Faults are the knobs every emulator has (its emulator.Base), and so has
// keycloaktest.Proxy in front of a real server.
type Faults interface {
	Inject(emulator.Fault)
	SetLatency(time.Duration)
	SlowAnswers(emulator.Endpoint, time.Duration)
}

// withFaults fills the knobs left nil from Faults.
func (e *Env) withFaults() {
	f, ep := e.Faults, e.ResetEndpoint
	if f == nil {
		return
	}
	if e.FailNext == nil {
		e.FailNext = func(n, status int, body string) {
			f.Inject(emulator.Fault{Endpoint: ep, Times: n, Status: status, Body: body})
		}
	}
	if e.RateLimitNext == nil {
		e.RateLimitNext = func(d time.Duration) {
			f.Inject(emulator.Fault{Endpoint: ep, Times: 1, Status: 429, RetryAfter: d})
		}
	}
	if e.SetLatency == nil {
		e.SetLatency = f.SetLatency
	}
	if e.SlowReset == nil {
		e.SlowReset = func(d time.Duration) { f.SlowAnswers(ep, d) }
	}
}

// Harness builds a fresh Env for each case.
type Harness func(t *testing.T) *Env

// Run runs every case against the provider.
func Run(t *testing.T, newEnv Harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, e *Env) []error
	}{
		{"success", caseSuccess},
		{"user not found", caseUnknownUser},
		{"user not found where the IdP answers alike", caseHiddenUnknownUser},
		{"transient 5xx then success", caseTransient},
		{"429 with Retry-After", caseRateLimited},
		{"credentials rejected halts", caseCredentials},
		{"token expiry mid-run", caseTokenExpiry},
		{"timeout honoured via context", caseTimeout},
		{"an answer that never comes", caseLostAnswer},
		{"paced right before the reset", casePace},
		{"an answer echoing the credentials", caseEcho},
		{"a reference it does not declare is refused", caseUndeclaredRef},
		{"what a reset does to the current password", casePassword},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.withFaults()
			require.NotZero(t, e.Accepts, "Env.Accepts is required: the provider package's declaration")
			errs := c.run(t, e)
			// No secret in any error string.
			for _, err := range errs {
				if err == nil {
					continue
				}
				for _, s := range e.Secrets() {
					require.NotContains(t, err.Error(), s, "an error leaks a secret")
				}
			}
		})
	}
}

func reset(e *Env, ctx context.Context, u idp.UserRef) error {
	return e.Provider.Reset(ctx, idp.Request{TaskID: "r-conformance", User: u})
}

func kindOf(err error) idp.Kind { return idp.AsError(err).Kind }

func caseSuccess(t *testing.T, e *Env) []error {
	err := reset(e, context.Background(), e.Known)
	require.NoError(t, err)
	require.Equal(t, 1, e.Sent())
	return []error{err}
}

func caseUnknownUser(t *testing.T, e *Env) []error {
	err := reset(e, context.Background(), e.Unknown)
	require.Error(t, err)
	require.Equal(t, idp.UserNotFound, kindOf(err), "%v", err)
	require.Zero(t, e.Sent())
	for _, s := range []string{e.Unknown.Email, e.Unknown.Username} {
		if s != "" {
			require.NotContains(t, err.Error(), s, "the error names the user")
		}
	}
	return []error{err}
}

func caseHiddenUnknownUser(t *testing.T, e *Env) []error {
	if e.HideUnknown == nil {
		t.Skip("the IdP tells an unknown user apart in its answer")
	}
	e.HideUnknown()
	errs := caseUnknownUser(t, e)
	require.NoError(t, reset(e, context.Background(), e.Known), "a known user is still sent a reset")
	require.Equal(t, 1, e.Sent())
	return errs
}

func casePassword(t *testing.T, e *Env) []error {
	if e.PasswordWorks == nil {
		t.Skip("the emulator does not model signing in")
	}
	require.True(t, e.PasswordWorks(), "the password works before the reset")
	err := reset(e, context.Background(), e.Known)
	require.NoError(t, err)
	if e.KeepsPassword {
		require.True(t, e.PasswordWorks(), "the current password keeps working until the user sets a new one")
	} else {
		require.False(t, e.PasswordWorks(), "the current password stops working: the user is locked out until they finish")
	}
	return []error{err}
}

func caseUndeclaredRef(t *testing.T, e *Env) []error {
	var errs []error
	for _, ref := range []idp.UserRef{{Email: "alice@example.com"}, {Username: "alice"}, {ID: "4f1c"}} {
		if e.Accepts.Has(ref) {
			continue
		}
		err := reset(e, context.Background(), ref)
		require.Equal(t, idp.InvalidRequest, kindOf(err), "%+v: %v", ref, err)
		errs = append(errs, err)
	}
	require.Zero(t, e.Sent())
	return errs
}

func caseTransient(t *testing.T, e *Env) []error {
	e.FailNext(1, 503, "")
	first := reset(e, context.Background(), e.Known)
	require.Error(t, first)
	require.Equal(t, idp.Transient, kindOf(first), "%v", first)
	second := reset(e, context.Background(), e.Known)
	require.NoError(t, second)
	require.Equal(t, 1, e.Sent())
	return []error{first, second}
}

func caseRateLimited(t *testing.T, e *Env) []error {
	e.RateLimitNext(7 * time.Second)
	err := reset(e, context.Background(), e.Known)
	require.Error(t, err)
	ie := idp.AsError(err)
	require.Equal(t, idp.RateLimited, ie.Kind, "%v", err)
	require.GreaterOrEqual(t, ie.RetryAfter, 7*time.Second)
	require.NoError(t, reset(e, context.Background(), e.Known))
	return []error{err}
}

func caseCredentials(t *testing.T, e *Env) []error {
	require.NoError(t, reset(e, context.Background(), e.Known))
	e.RejectCredentials()
	err := reset(e, context.Background(), e.Known)
	require.Error(t, err)
	ie := idp.AsError(err)
	require.Equal(t, idp.Credentials, ie.Kind, "%v", err)
	require.NotEmpty(t, ie.Hint, "a halt says what to fix")
	require.Equal(t, 1, e.Sent())
	return []error{err}
}

func caseTokenExpiry(t *testing.T, e *Env) []error {
	if e.ExpireTokens == nil {
		require.Nil(t, e.TokenRequests, "ExpireTokens and TokenRequests go together")
		t.Skip("the provider mints no token: nothing can expire")
	}
	require.NoError(t, reset(e, context.Background(), e.Known))
	before := e.TokenRequests()
	e.ExpireTokens()
	err := reset(e, context.Background(), e.Known)
	require.NoError(t, err, "an expired token is replaced, not reported")
	require.Equal(t, before+1, e.TokenRequests(), "replaced once")
	require.Equal(t, 2, e.Sent())
	return []error{err}
}

func caseTimeout(t *testing.T, e *Env) []error {
	require.NoError(t, reset(e, context.Background(), e.Known)) // warm the token
	e.SetLatency(5 * time.Second)
	err := resetCut(t, e, 100*time.Millisecond, 2*time.Second)
	want := idp.Transient
	if e.OneCall {
		want = idp.Unconfirmed
	}
	require.Equal(t, want, kindOf(err), "%v", err)
	require.True(t, strings.Contains(err.Error(), "timed out") || strings.Contains(err.Error(), "canceled"), "%v", err)
	e.SetLatency(0)
	return []error{err}
}

// caseLostAnswer: the reset reaches the IdP, which carries it out, but its
// answer comes after the caller stopped waiting. The provider must not call
// that a transient failure (a retry would send a second mail): it is
// Unconfirmed, and the IdP did send it.
func caseLostAnswer(t *testing.T, e *Env) []error {
	require.NoError(t, reset(e, context.Background(), e.Known)) // warm the token
	e.SlowReset(4 * time.Second)
	t.Cleanup(func() { e.SlowReset(0) })
	err := resetCut(t, e, time.Second, 3*time.Second)
	require.Equal(t, idp.Unconfirmed, kindOf(err), "%v", err)
	waitFor(t, 30*time.Second, func() bool { return e.Sent() == 2 }, "the IdP sends the reset whose answer was lost")
	return []error{err}
}

// resetCut resets Known under a context that ends after cut, and requires
// the provider to give up with an error within limit.
func resetCut(t *testing.T, e *Env, cut, limit time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cut)
	defer cancel()
	start := time.Now()
	err := reset(e, ctx, e.Known)
	require.Error(t, err)
	require.Less(t, time.Since(start), limit, "returned when the context ended")
	return err
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		<-tick.C
	}
}

func casePace(t *testing.T, e *Env) []error {
	calls := 0
	err := e.Provider.Reset(context.Background(), idp.Request{TaskID: "r-conformance", User: e.Known,
		Pace: func(context.Context) error {
			calls++
			require.Zero(t, e.Sent(), "paced before the reset is sent")
			return nil
		}})
	require.NoError(t, err)
	require.Equal(t, 1, calls, "paced once per reset")
	require.Equal(t, 1, e.Sent())

	wait := &idp.Error{Kind: idp.RateLimited, Message: "wait", RetryAfter: time.Minute}
	err = e.Provider.Reset(context.Background(), idp.Request{TaskID: "r-conformance", User: e.Known,
		Pace: func(context.Context) error { return wait }})
	require.ErrorIs(t, err, wait, "the pace's error comes back as it is")
	require.Equal(t, 1, e.Sent(), "nothing sent when the pace says no")
	return []error{err}
}

// caseEcho has a proxy in front of the IdP answer with an error page that
// echoes every credential the provider holds: none may reach the error
// (Run checks every error against Secrets).
func caseEcho(t *testing.T, e *Env) []error {
	if len(e.Held()) == 0 {
		t.Skip("the provider holds no secret (an emulator's well-known admin credential)")
	}
	require.NoError(t, reset(e, context.Background(), e.Known)) // a token exists now
	e.FailNext(1, 502, "<html><pre>"+strings.Join(e.Held(), " | ")+"</pre><h1>502 Bad Gateway</h1></html>")
	err := reset(e, context.Background(), e.Known)
	require.Error(t, err)
	require.Equal(t, idp.Transient, kindOf(err), "%v", err)
	if !e.QuotesNoPage {
		require.Contains(t, err.Error(), "[redacted]", "the page is quoted, its secrets are not")
	}
	return []error{err}
}
