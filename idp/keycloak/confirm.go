package keycloak

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/resetq/resetq/idp"
)

// A reset whose answer never came (a timeout, a cut connection, a proxy's
// 504) may have been sent: Keycloak sends the mail inside the request and
// does not stop when the client does. When the realm records admin events
// and resetq may read them (the view-events role), Keycloak's own record
// settles it: an ACTION event on users/{id}/execute-actions-email is written
// after the mail went out. Otherwise the attempt stays unconfirmed.

// confirmSkew is how far before the request's start an event still counts,
// for a Keycloak whose clock runs a little behind resetq's.
const confirmSkew = 2 * time.Second

// confirmPoll is how often the events are read while Keycloak may still be
// sending.
const confirmPoll = time.Second

// eventsProbe remembers whether admin events can confirm resets, so the
// events settings are read once in a while, not at every lost answer.
type eventsProbe struct {
	mu      sync.Mutex
	checked time.Time
	ok      bool
	why     string
}

// eventsRecheck is how long a probe's answer is trusted.
const eventsRecheck = 5 * time.Minute

// usable reports whether admin events can confirm a reset, and if not, why.
func (p *Provider) eventsUsable(ctx context.Context) (bool, string) {
	e := &p.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.checked.IsZero() && time.Since(e.checked) < eventsRecheck {
		return e.ok, e.why
	}
	resp, err := p.admin(ctx, idp.OpConfirm, http.MethodGet, p.adminURL("/events/config", nil), nil)
	if err != nil {
		return false, "the events settings could not be read: " + err.Error() // not cached: try again next time
	}
	var conf struct {
		AdminEventsEnabled bool `json:"adminEventsEnabled"`
	}
	switch {
	case resp.Status == http.StatusForbidden:
		e.ok, e.why = false, "resetq may not read the realm's events (give its service account the view-events role)"
	case resp.Status != http.StatusOK || resp.Decode(&conf) != nil:
		e.ok, e.why = false, "the events settings answered "+strconv.Itoa(resp.Status)
	case !conf.AdminEventsEnabled:
		e.ok, e.why = false, "the realm does not record admin events (Realm settings → Events → Admin events settings)"
	default:
		e.ok, e.why = true, ""
	}
	e.checked = time.Now()
	return e.ok, e.why
}

// confirm settles a reset of unknown outcome: nil when Keycloak recorded
// the mail as sent, a Transient error when Keycloak's worst case has
// passed without the record (nothing was sent: the reset may go again),
// and the Unconfirmed error, with the reason added, when it cannot tell.
func (p *Provider) confirm(ctx context.Context, userID string, start time.Time, unknown error) error {
	ue := *idp.AsError(unknown)
	ok, why := p.eventsUsable(ctx)
	if !ok {
		ue.Message += "; not confirmed: " + why
		return &ue
	}
	path := "users/" + userID + "/execute-actions-email"
	q := url.Values{
		"operationTypes": {"ACTION"}, "resourceTypes": {"USER"}, "resourcePath": {path},
		"dateFrom": {strconv.FormatInt(start.Add(-confirmSkew).UnixMilli(), 10)}, "max": {"20"},
	}
	// Keycloak is done with the mail one way or the other once its worst
	// case, which ResetTimeout outlasts, has passed since the request.
	deadline := start.Add(p.cfg.ResetTimeout + confirmPoll)
	for {
		found, err := p.findEvent(ctx, q, path, start)
		if err != nil {
			ue.Message += "; not confirmed: reading the admin events failed: " + err.Error()
			return &ue
		}
		if found {
			return nil
		}
		if time.Now().After(deadline) {
			return &idp.Error{Kind: idp.Transient, Op: idp.OpReset, Status: ue.Status,
				Message: "no answer came, and Keycloak's admin events show no mail sent for this reset: it is safe to send again",
				Err:     ue.Err}
		}
		t := time.NewTimer(confirmPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			ue.Message += "; not confirmed: the attempt ended while Keycloak's admin events were read"
			return &ue
		case <-t.C:
		}
	}
}

// findEvent reports whether Keycloak recorded an execute-actions email for
// path at or after start (less the skew).
func (p *Provider) findEvent(ctx context.Context, q url.Values, path string, start time.Time) (bool, error) {
	resp, err := p.admin(ctx, idp.OpConfirm, http.MethodGet, p.adminURL("/admin-events", q), nil)
	if err != nil {
		return false, err
	}
	if resp.Status != http.StatusOK {
		return false, p.classify(idp.OpConfirm, resp.Status, resp.Header, resp.Body)
	}
	var events []struct {
		Time          int64  `json:"time"`
		OperationType string `json:"operationType"`
		ResourcePath  string `json:"resourcePath"`
	}
	if err := resp.Decode(&events); err != nil {
		return false, &idp.Error{Kind: idp.Transient, Op: idp.OpConfirm, Status: resp.Status,
			Message: "the admin events are not a JSON list"}
	}
	from := start.Add(-confirmSkew).UnixMilli()
	for _, e := range events {
		if e.OperationType == "ACTION" && e.ResourcePath == path && e.Time >= from {
			return true, nil
		}
	}
	return false, nil
}
