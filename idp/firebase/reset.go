package firebase

import (
	"context"
	"net/http"

	"github.com/resetq/resetq/idp"
)

// account is what resetq reads of a Firebase user.
type account struct {
	LocalID  string `json:"localId"`
	Email    string `json:"email"`
	Disabled bool   `json:"disabled"`
}

// Reset asks Firebase to mail the user its password-reset link. A user
// named by id is first looked up for its email; with VerifyUser an email is
// looked up too, since a project with email enumeration protection answers
// the send alike for every address.
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	if !Accepts.Has(req.User) {
		return &idp.Error{Kind: idp.InvalidRequest, Op: idp.OpReset,
			Message: "Firebase finds users by email or uid only; this request names the user another way"}
	}
	email := req.User.Email
	switch {
	case req.User.ID != "":
		a, err := p.lookup(ctx, "localId", req.User.ID)
		if err != nil {
			return err
		}
		if a.Email == "" {
			return &idp.Error{Kind: idp.UserNoEmail, Op: idp.OpLookup, Message: "the user has no email address"}
		}
		email = a.Email
	case p.cfg.VerifyUser:
		if _, err := p.lookup(ctx, "email", email); err != nil {
			return err
		}
	}
	if err := req.Paced(ctx); err != nil {
		return err
	}
	body := map[string]any{"requestType": "PASSWORD_RESET", "email": email}
	if p.cfg.ContinueURL != "" {
		body["continueUrl"] = p.cfg.ContinueURL
	}
	res, err := p.call(ctx, idp.OpReset, "sendOobCode", body)
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK {
		return p.classify(idp.OpReset, res)
	}
	var sent struct {
		Kind string `json:"kind"`
	}
	if err := res.Decode(&sent); err != nil || sent.Kind == "" {
		return &idp.Error{Kind: idp.Configuration, Op: idp.OpReset, Status: res.Status,
			Message: "the send answered 200 with something that is not Identity Toolkit's answer",
			Hint:    "something other than the Identity Toolkit API answers at " + p.cfg.BaseURL}
	}
	return nil
}

// lookup finds the one account whose field ("email" or "localId") is
// value, as an admin. A disabled account is user_disabled.
func (p *Provider) lookup(ctx context.Context, field, value string) (*account, error) {
	if p.tokens == nil {
		return nil, &idp.Error{Kind: idp.InvalidRequest, Op: idp.OpLookup,
			Message: "a user named by uid is looked up as an admin, and this provider has an API key only: name users by email, or use a service account"}
	}
	res, err := p.call(ctx, idp.OpLookup, "lookup", map[string][]string{field: {value}})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, p.classify(idp.OpLookup, res)
	}
	var found struct {
		Kind  string    `json:"kind"`
		Users []account `json:"users"`
	}
	if err := res.Decode(&found); err != nil || found.Kind == "" {
		return nil, &idp.Error{Kind: idp.Transient, Op: idp.OpLookup, Status: res.Status,
			Message: "the lookup answered something that is not Identity Toolkit's answer"}
	}
	switch {
	case len(found.Users) == 0:
		return nil, &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: res.Status, Message: "no user with that " + field}
	case len(found.Users) > 1:
		return nil, &idp.Error{Kind: idp.AmbiguousUser, Op: idp.OpLookup, Status: res.Status, Message: "more than one user has that " + field}
	case found.Users[0].Disabled:
		return nil, &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Status: res.Status, Message: "the user is disabled"}
	}
	return &found.Users[0], nil
}
