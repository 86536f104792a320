package keygen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/resetq/resetq/idp"
)

// keygenUser is what resetq reads of a user resource.
type keygenUser struct {
	Data struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Attributes struct {
			Email  string `json:"email"`
			Status string `json:"status"`
			Role   string `json:"role"`
			Name   string `json:"name"`
		} `json:"attributes"`
	} `json:"data"`
}

// Reset asks Keygen to send a password reset for the user's email.
//
// A banned user is reset like any other: Keygen sends the reset to banned
// users (they still cannot sign in), and without verify_user resetq could
// not tell, so both ways end the same.
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	email := req.User.Email
	if !Accepts.Has(req.User) {
		return &idp.Error{Kind: idp.InvalidRequest, Op: idp.OpReset,
			Message: "Keygen resets passwords by email only; this request names the user another way"}
	}
	if err := p.pre.run(ctx, p); err != nil {
		return err
	}
	if p.cfg.VerifyUser {
		res, err := p.call(ctx, idp.OpLookup, http.MethodGet, p.accountURL("/users/"+url.PathEscape(email)), nil, true)
		if err != nil {
			return err
		}
		if res.Status != http.StatusOK {
			return p.classify(idp.OpLookup, res)
		}
		var u keygenUser
		if err := res.Decode(&u); err != nil || u.Data.Type != "users" {
			return &idp.Error{Kind: idp.Transient, Op: idp.OpLookup, Status: res.Status, Message: "the user lookup answered something that is not a user"}
		}
		if !strings.EqualFold(u.Data.Attributes.Email, email) {
			return &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: res.Status, Message: "no user with that email"}
		}
	}
	payload, _ := json.Marshal(map[string]any{"meta": map[string]any{"email": email, "deliver": p.cfg.Deliver}})
	if err := req.Paced(ctx); err != nil {
		return err
	}
	// Keygen never looks at a bearer here; it is sent all the same, as
	// Keygen Cloud may rate-limit by the kind of token.
	res, err := p.call(ctx, idp.OpReset, http.MethodPost, p.accountURL("/passwords"), payload, false)
	if err != nil {
		return err
	}
	// Keygen answers 204 and nothing else, whoever the user: another 2xx
	// (a 200 with a login page) is something in front of it.
	if done, err := res.NoContent(idp.OpReset, fmt.Sprintf("answered %d where Keygen always answers 204", res.Status),
		fmt.Sprintf("something other than Keygen answers at %s (a proxy, a captive portal, a wrong base_url): "+
			"no reset can be trusted to have gone out", p.base)); done {
		return err
	}
	return p.classify(idp.OpReset, res)
}
