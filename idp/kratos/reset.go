package kratos

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// identity is what resetq reads of a Kratos identity.
type identity struct {
	ID                string `json:"id"`
	State             string `json:"state"`
	RecoveryAddresses []struct {
		Value string `json:"value"`
		Via   string `json:"via"`
	} `json:"recovery_addresses"`
}

// recoveryFlow is what resetq reads of a recovery flow: Active is the
// method it uses.
type recoveryFlow struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Active string `json:"active"`
}

// Reset starts Kratos' self-service recovery flow for the user's email, as
// the user would on the "forgot password" page: Kratos mails a link (or a
// code) that signs the user in and leads to the password settings. The
// user's password keeps working until they change it.
//
// A user named by id is first read through the admin API for its recovery
// address. With VerifyUser an email is looked up the same way, since the
// flow itself answers alike for known and unknown addresses.
func (p *Provider) Reset(ctx context.Context, req idp.Request) error {
	if !Accepts.Has(req.User) {
		return &idp.Error{Kind: idp.InvalidRequest, Op: idp.OpReset,
			Message: "Kratos finds users by email or identity id only; this request names the user another way"}
	}
	email := req.User.Email
	switch {
	case req.User.ID != "":
		id, err := p.identityByID(ctx, req.User.ID)
		if err != nil {
			return err
		}
		if email, err = recoveryEmail(id); err != nil {
			return err
		}
	case p.cfg.VerifyUser:
		id, err := p.identityByEmail(ctx, email)
		if err != nil {
			return err
		}
		if _, err := recoveryEmail(id); err != nil {
			return err
		}
	}
	// Starting the flow sends nothing: it is tagged a lookup, so that an
	// answer lost there is retried, not taken for a reset that may have
	// gone out (only the submission is the reset).
	flow, err := p.newFlow(ctx, idp.OpLookup)
	if err != nil {
		return err
	}
	if err := req.Paced(ctx); err != nil {
		return err
	}
	// The flow goes along for the mail's template: a code is entered in
	// the flow it was issued in.
	body, _ := json.Marshal(map[string]any{"method": p.cfg.Method, "email": email,
		"transient_payload": map[string]string{"flow_id": flow.ID}})
	res, err := p.client.Do(ctx, apiRequest(idp.OpReset, http.MethodPost, p.public+"/self-service/recovery?flow="+url.QueryEscape(flow.ID), body))
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK {
		return p.classify(idp.OpReset, public, res)
	}
	var sent recoveryFlow
	if err := res.Decode(&sent); err != nil || sent.State != "sent_email" {
		return &idp.Error{Kind: idp.Configuration, Op: idp.OpReset, Status: res.Status,
			Message: "the recovery flow did not reach sent_email",
			Hint:    "something other than Kratos answers at " + p.public}
	}
	return nil
}

// newFlow starts an API recovery flow.
func (p *Provider) newFlow(ctx context.Context, op string) (*recoveryFlow, error) {
	res, err := p.client.Do(ctx, apiRequest(op, http.MethodGet, p.public+"/self-service/recovery/api", nil))
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, p.classify(op, public, res)
	}
	var f recoveryFlow
	if err := res.Decode(&f); err != nil || f.ID == "" {
		return nil, &idp.Error{Kind: idp.Configuration, Op: op, Status: res.Status,
			Message: "starting a recovery flow answered something that is not a flow",
			Hint:    "public_url must be Kratos' public API (where /self-service/recovery/api is served)"}
	}
	return &f, nil
}

func (p *Provider) identityByID(ctx context.Context, id string) (*identity, error) {
	res, err := p.adminCall(ctx, idp.OpLookup, "/admin/identities/"+url.PathEscape(id))
	if err != nil {
		return nil, err
	}
	var a answer
	if res.Status == http.StatusNotFound && res.Decode(&a) == nil && a.Error != nil {
		// Kratos' own 404 (an unknown id, or one that is no UUID), not
		// a wrong admin_url's.
		return nil, &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: res.Status, Message: "no identity with that id"}
	}
	if res.Status != http.StatusOK {
		return nil, p.classify(idp.OpLookup, admin, res)
	}
	var out identity
	if err := res.Decode(&out); err != nil || out.ID == "" {
		return nil, &idp.Error{Kind: idp.Transient, Op: idp.OpLookup, Status: res.Status, Message: "the identity lookup answered something that is not an identity"}
	}
	return &out, nil
}

// identityByEmail finds the identity whose credentials identifier is
// email: the schema's login identifier, which is also its recovery
// address in the usual schemas.
func (p *Provider) identityByEmail(ctx context.Context, email string) (*identity, error) {
	res, err := p.adminCall(ctx, idp.OpLookup, "/admin/identities?credentials_identifier="+url.QueryEscape(email))
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, p.classify(idp.OpLookup, admin, res)
	}
	var list []identity
	if err := res.Decode(&list); err != nil {
		return nil, &idp.Error{Kind: idp.Transient, Op: idp.OpLookup, Status: res.Status, Message: "the identity lookup answered something that is not a list"}
	}
	switch len(list) {
	case 0:
		return nil, &idp.Error{Kind: idp.UserNotFound, Op: idp.OpLookup, Status: res.Status, Message: "no identity with that email"}
	case 1:
		return &list[0], nil
	}
	return nil, &idp.Error{Kind: idp.AmbiguousUser, Op: idp.OpLookup, Status: res.Status, Message: "more than one identity has that email"}
}

// recoveryEmail is the identity's email recovery address; an inactive
// identity is disabled.
func recoveryEmail(id *identity) (string, error) {
	if id.State == "inactive" {
		return "", &idp.Error{Kind: idp.UserDisabled, Op: idp.OpLookup, Message: "the identity is inactive"}
	}
	for _, a := range id.RecoveryAddresses {
		if a.Via == "email" && strings.Contains(a.Value, "@") {
			return a.Value, nil
		}
	}
	return "", &idp.Error{Kind: idp.UserNoEmail, Op: idp.OpLookup, Message: "the identity has no email recovery address"}
}

// apiRequest is a call to the public API, which needs no credentials.
func apiRequest(op, method, rawURL string, body []byte) apiclient.Request {
	return apiclient.Request{Op: op, Method: method, URL: rawURL, Body: body}
}
