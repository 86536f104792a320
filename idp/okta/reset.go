package okta

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// user is what resetq reads of an Okta user.
type user struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Profile struct {
		Login string `json:"login"`
		Email string `json:"email"`
	} `json:"profile"`
}

// Reset finds the user, and asks Okta to mail them (see the package
// documentation for what each method does to their password).
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	u, err := p.find(ctx, req.User)
	if err != nil {
		return err
	}
	if err := usable(u); err != nil {
		return err
	}
	if err := req.Paced(ctx); err != nil {
		return err
	}
	path := "/api/v1/users/" + url.PathEscape(u.ID)
	q := url.Values{"sendEmail": {"true"}}
	if p.cfg.Method == MethodForgot {
		path += "/credentials/forgot_password"
	} else {
		path += "/lifecycle/reset_password"
		if p.cfg.RevokeSessions {
			q.Set("revokeSessions", "true")
		}
	}
	res, err := p.do(ctx, apiclient.Request{Op: idp.OpReset, Method: http.MethodPost, URL: p.org + path + "?" + q.Encode()})
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK {
		return p.classify(idp.OpReset, res)
	}
	var out map[string]any
	if err := res.Decode(&out); err != nil {
		return &idp.Error{Kind: idp.Configuration, Op: idp.OpReset, Status: res.Status,
			Message: "the reset answered 200 with something that is not Okta's JSON",
			Hint:    "something other than Okta's management API answers at " + p.org}
	}
	return nil
}

// find looks the user up: by email with a search, by login or id directly.
func (p *Provider) find(ctx context.Context, ref idp.UserRef) (*user, error) {
	if ref.Email != "" {
		q := url.Values{"search": {"profile.email eq " + apiclient.Quoted(ref.Email)}}
		res, err := p.do(ctx, apiclient.Request{Op: idp.OpLookup, Method: http.MethodGet, URL: p.org + "/api/v1/users?" + q.Encode()})
		if err != nil {
			return nil, err
		}
		if res.Status != http.StatusOK {
			return nil, p.classify(idp.OpLookup, res)
		}
		var all []user
		if err := res.Decode(&all); err != nil {
			return nil, &idp.Error{Kind: idp.Configuration, Op: idp.OpLookup, Status: res.Status,
				Message: "the user search answered something that is not a list of users",
				Hint:    "org_url must be the Okta org (https://acme.okta.com), not an admin or custom page"}
		}
		// A search finds deactivated users too: one who left and came
		// back has a DEPROVISIONED account beside the active one.
		var list []user
		var gone *user
		for i := range all {
			if all[i].Status == "DEPROVISIONED" {
				gone = &all[i]
				continue
			}
			list = append(list, all[i])
		}
		switch len(list) {
		case 0:
			if gone != nil {
				return nil, usable(gone)
			}
			return nil, &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: res.Status, Message: "no user with that email"}
		case 1:
			return &list[0], nil
		}
		return nil, &idp.Error{Kind: idp.AmbiguousUser, Op: idp.OpLookup, Status: res.Status, Message: "more than one user has that email"}
	}
	key := ref.ID
	if key == "" {
		key = ref.Username
	}
	res, err := p.do(ctx, apiclient.Request{Op: idp.OpLookup, Method: http.MethodGet, URL: p.org + "/api/v1/users/" + url.PathEscape(key)})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, p.classify(idp.OpLookup, res)
	}
	var u user
	if err := res.Decode(&u); err != nil || u.ID == "" {
		return nil, &idp.Error{Kind: idp.Configuration, Op: idp.OpLookup, Status: res.Status,
			Message: "the user lookup answered something that is not a user",
			Hint:    "org_url must be the Okta org (https://acme.okta.com)"}
	}
	// Okta finds a user by id or login alike: a login that is another
	// user's id, or the reverse, is not this user.
	if ref.ID != "" && u.ID != ref.ID || ref.Username != "" && !strings.EqualFold(u.Profile.Login, ref.Username) {
		return nil, &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: res.Status, Message: "no such user"}
	}
	return &u, nil
}

// usable says whether Okta will send a reset to a user in this status.
func usable(u *user) error {
	switch u.Status {
	case "STAGED", "PROVISIONED":
		return &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Code: u.Status,
			Message: "the user is not activated yet (" + u.Status + "): Okta sends them an activation, not a reset"}
	case "SUSPENDED", "DEPROVISIONED":
		return &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Code: u.Status, Message: "the user is " + strings.ToLower(u.Status)}
	}
	return nil
}
