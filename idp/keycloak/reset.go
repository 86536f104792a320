package keycloak

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// briefUser is what a brief user search returns that resetq reads.
type briefUser struct {
	ID       string          `json:"id"`
	Username string          `json:"username"`
	Email    string          `json:"email"`
	Enabled  bool            `json:"enabled"`
	Access   map[string]bool `json:"access"`
}

// resolve finds the id of the one user the reference names.
func (p *Provider) resolve(ctx context.Context, ref idp.UserRef) (string, error) {
	if ref.ID != "" {
		return ref.ID, nil
	}
	field, value := "email", ref.Email
	if value == "" {
		field, value = "username", ref.Username
	}
	if value == "" {
		return "", &idp.Error{Kind: idp.InvalidRequest, Op: idp.OpLookup, Message: "no user reference"}
	}
	q := url.Values{field: {value}, "exact": {"true"}, "briefRepresentation": {"true"}, "max": {"2"}}
	found, err := p.search(ctx, q, field, value)
	if err != nil {
		return "", err
	}
	if len(found) == 0 && strings.Contains(value, "+") {
		// Some servers do not find "+" addresses even when encoded
		// (keycloak#43780); a quoted search is an exact match too.
		q = url.Values{"search": {`"` + value + `"`}, "briefRepresentation": {"true"}, "max": {"2"}}
		if found, err = p.search(ctx, q, field, value); err != nil {
			return "", err
		}
	}
	switch len(found) {
	case 0:
		return "", &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: http.StatusOK,
			Message: "no user with that " + field}
	case 1:
	default:
		return "", &idp.Error{Kind: idp.AmbiguousUser, Op: idp.OpLookup, Status: http.StatusOK,
			Message: "more than one user with that " + field}
	}
	u := found[0]
	switch {
	case !u.Enabled:
		return "", &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Status: http.StatusOK, Message: "user is disabled"}
	case u.Email == "":
		return "", &idp.Error{Kind: idp.UserNoEmail, Op: idp.OpLookup, Status: http.StatusOK, Message: "user has no email"}
	}
	return u.ID, nil
}

// search runs a user search and keeps only the users whose field equals
// value ignoring case: exact=true is trusted to narrow, not to be right.
func (p *Provider) search(ctx context.Context, q url.Values, field, value string) ([]briefUser, error) {
	users, err := p.listUsers(ctx, idp.OpLookup, q)
	if err != nil {
		return nil, err
	}
	var out []briefUser
	for _, u := range users {
		got := u.Email
		if field == "username" {
			got = u.Username
		}
		if strings.EqualFold(got, value) {
			out = append(out, u)
		}
	}
	return out, nil
}

// listUsers runs GET /users with q for op. A 200 that is not a list of
// users is not Keycloak's admin API answering.
func (p *Provider) listUsers(ctx context.Context, op string, q url.Values) ([]briefUser, error) {
	resp, err := p.admin(ctx, op, http.MethodGet, p.adminURL("/users", q), nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, p.classify(op, resp.Status, resp.Header, resp.Body)
	}
	var users []briefUser
	if err := resp.Decode(&users); err != nil {
		return nil, &idp.Error{Kind: idp.Configuration, Op: op, Status: resp.Status,
			Message: "the user list answered 200 with something that is not a list of users: " + apiclient.Excerpt(string(resp.Body), 80),
			Hint: "something in front of Keycloak (a login page, a proxy) answers for " + p.adminURL("/users", nil) +
				": check base_url"}
	}
	return users, nil
}

// Reset sends the execute-actions email.
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	id, err := p.resolve(ctx, req.User)
	if err != nil {
		return err
	}
	actions := req.Actions
	if len(actions) == 0 {
		actions = p.cfg.Actions
	}
	payload, _ := json.Marshal(actions)
	if err := req.Paced(ctx); err != nil {
		return err
	}
	q := url.Values{}
	if p.cfg.Lifespan > 0 {
		q.Set("lifespan", strconv.Itoa(int(p.cfg.Lifespan/time.Second)))
	}
	if p.cfg.LinkClientID != "" {
		q.Set("client_id", p.cfg.LinkClientID)
	}
	if p.cfg.RedirectURI != "" {
		q.Set("redirect_uri", p.cfg.RedirectURI)
	}
	start := time.Now()
	resp, err := p.admin(ctx, idp.OpReset, http.MethodPut,
		p.adminURL("/users/"+url.PathEscape(id)+"/execute-actions-email", q), payload)
	if err == nil && resp.Status == http.StatusGatewayTimeout {
		// A proxy stopped waiting; Keycloak goes on sending.
		_, msg := parseBody(resp.Body)
		err = &idp.Error{Kind: idp.Unconfirmed, Op: idp.OpReset, Status: resp.Status,
			Message: "a proxy gave up waiting for Keycloak's answer (" + msg + "): Keycloak may have sent the mail"}
	}
	if err != nil {
		if idp.AsError(err).Kind == idp.Unconfirmed {
			return p.confirm(ctx, id, start, err)
		}
		return err
	}
	// Keycloak answers 204 and nothing else: another 2xx is something in
	// front of it (a login page, a proxy's own answer).
	status := strconv.Itoa(resp.Status)
	if done, err := resp.NoContent(idp.OpReset,
		"execute-actions-email answered "+status+" instead of 204: "+apiclient.Excerpt(string(resp.Body), 80),
		"Keycloak answers 204 to execute-actions-email; "+status+" comes from something in front of it "+
			"(a proxy, a login page): check base_url "+p.cfg.BaseURL+" and the proxy's routes"); done {
		return err
	}
	return p.classify(idp.OpReset, resp.Status, resp.Header, resp.Body)
}
