package kratos

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// Kratos answers a request it refuses in one of two shapes: a generic
// error document ({"error": {id, code, status, reason, message}}), or, for
// a self-service flow whose form is wrong, the flow itself with messages
// on the form (ui.messages) and on its fields (ui.nodes[].messages).
type answer struct {
	Error *struct {
		ID      string `json:"id"`
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
	Active string `json:"active"`
	UI     *struct {
		Messages []uiMessage `json:"messages"`
		Nodes    []struct {
			Attributes struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"attributes"`
			Messages []uiMessage `json:"messages"`
		} `json:"nodes"`
	} `json:"ui"`
}

// uiMessage is a message on a flow's form. Its text can quote what was
// submitted (the address), so resetq reports only its id.
type uiMessage struct {
	ID   int    `json:"id"`
	Type string `json:"type"`
}

// Message ids (Kratos' text package): 4000000-4000999 are a field's
// validation errors, 4010005 "could not find a strategy to recover your
// account with".
const (
	msgValidationFirst = 4000000
	msgValidationLast  = 4000999
	msgNoStrategy      = 4010005
)

// errorIDs lists the ids of a flow's error messages, form and fields.
func (a *answer) errorIDs() []int {
	if a.UI == nil {
		return nil
	}
	var ids []int
	for _, m := range a.UI.Messages {
		if m.Type == "error" {
			ids = append(ids, m.ID)
		}
	}
	for _, n := range a.UI.Nodes {
		for _, m := range n.Messages {
			if m.Type == "error" {
				ids = append(ids, m.ID)
			}
		}
	}
	return ids
}

// api is which of Kratos' two APIs answered.
type api bool

const (
	public api = false
	admin  api = true
)

// classify turns an answer that is not the one expected into an
// *idp.Error.
func (p *Provider) classify(op string, from api, res *apiclient.Response) *idp.Error {
	var a answer
	_ = res.Decode(&a)
	e := apiclient.ErrorOf(op, res.Status, res.Header)
	if a.Error != nil {
		e.Code = apiclient.Excerpt(a.Error.ID, 100)
		e.Message = apiclient.Excerpt(strings.TrimSpace(a.Error.Message+": "+a.Error.Reason), 300)
	}
	where := "public API at " + p.public
	if from == admin {
		where = "admin API at " + p.admin
	}
	ids := a.errorIDs()
	switch {
	case e.Kind != idp.InvalidRequest: // rate-limited or transient, as every IdP's
	case res.Status == http.StatusUnauthorized && from == admin:
		e.Kind = idp.Credentials
		e.Hint = "the " + where + " rejects resetq: set admin_token to an API key that may read identities"
	case res.Status == http.StatusForbidden && from == admin:
		e.Kind = idp.Permission
		e.Hint = "the " + where + " refuses resetq: its admin_token may not read identities"
	case res.Status == http.StatusUnauthorized, res.Status == http.StatusForbidden:
		e.Kind = idp.Configuration
		e.Hint = "the " + where + " refuses the recovery flow (" + http.StatusText(res.Status) + "): is something in front of it asking for credentials?"
	case a.Error == nil && a.UI == nil && (res.Status == http.StatusNotFound || res.Status == http.StatusMethodNotAllowed):
		e.Kind = idp.Configuration
		e.Message = fmt.Sprintf("answered %d with no Kratos error", res.Status)
		e.Hint = "nothing answers like Kratos' " + where + ": check the URL (the public and admin APIs listen on different ports)"
	case a.Error != nil && strings.Contains(a.Error.Reason, "endpoint was disabled"):
		// The method asked for is turned off (404): the link method is,
		// in Kratos' default configuration.
		e.Kind = idp.Configuration
		e.Hint = fmt.Sprintf("this Kratos has the %s method turned off: set selfservice.methods.%s.enabled: true", p.cfg.Method, p.cfg.Method)
	case res.Status == http.StatusNotFound, res.Status == http.StatusGone:
		// The flow expired or was lost between its start and the
		// submission: a new attempt starts a new one.
		e.Kind = idp.Transient
	case res.Status == http.StatusBadRequest && a.Error != nil && strings.Contains(a.Error.Reason, "disabled"):
		e.Kind = idp.Configuration
		e.Hint = "this Kratos has account recovery turned off: set selfservice.flows.recovery.enabled: true"
	case res.Status == http.StatusBadRequest && hasID(ids, msgNoStrategy):
		e.Kind = idp.Configuration
		e.Code = "4010005"
		e.Message = "Kratos has no recovery strategy for method " + p.cfg.Method
		e.Hint = fmt.Sprintf("enable it in Kratos (selfservice.methods.%s.enabled: true); its recovery pages use %q",
			p.cfg.Method, orUnknown(a.Active))
	case res.Status == http.StatusBadRequest && inValidation(ids):
		e.Kind = idp.InvalidRequest
		e.Code = fmt.Sprint(ids[0])
		e.Message = "Kratos refused the email address (message " + e.Code + ")"
	case res.Status == http.StatusBadRequest && len(ids) > 0:
		e.Code = fmt.Sprint(ids[0])
		e.Message = "Kratos refused the recovery form (message " + e.Code + ")"
	}
	switch {
	case e.Message != "":
	case a.Error == nil && a.UI == nil && len(res.Body) > 0:
		// Not Kratos' (a proxy's page): quoted, credentials scrubbed.
		e.Message = apiclient.Excerpt(string(res.Body), 120)
	default:
		e.Message = fmt.Sprintf("answered %d", res.Status)
	}
	return e
}

func hasID(ids []int, id int) bool {
	for _, i := range ids {
		if i == id {
			return true
		}
	}
	return false
}

func inValidation(ids []int) bool {
	for _, i := range ids {
		if i >= msgValidationFirst && i <= msgValidationLast {
			return true
		}
	}
	return false
}

func orUnknown(s string) string {
	if s == "" {
		return "another method"
	}
	return s
}
