package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// ResetRequest is the body of POST /v1/resets.
type ResetRequest struct {
	Provider string            `json:"provider"`
	User     tasks.User        `json:"user"`
	Actions  []string          `json:"actions,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// ResetAccepted answers POST /v1/resets.
type ResetAccepted struct {
	ID string `json:"id"`
	// Duplicate: a reset with this Idempotency-Key exists; nothing new was
	// queued.
	Duplicate bool   `json:"duplicate"`
	StatusURL string `json:"status_url"`
}

// ResetStatus answers GET /v1/resets/{id}.
type ResetStatus struct {
	ID string `json:"id"`
	// State is queued, running, retrying or done.
	State string `json:"state"`
	// Held is true while the provider is halted: the reset waits for an
	// operator.
	Held       bool      `json:"held"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Outcome, Reason and Attempts are shown to tokens with the outcomes
	// scope only.
	Outcome  string `json:"outcome,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// Requester is who asked for it (absent for a reset queued before
	// resetq recorded requesters).
	Requester *tasks.Requester `json:"requester,omitempty"`
}

// decodeJSON reads a bounded JSON body into v, refusing unknown fields.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireType(r, "application/json"); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return err
	}
	// JSON decoding would turn bytes that are not UTF-8 into U+FFFD
	// without a word: an address would reach the IdP changed.
	if !utf8.Valid(body) {
		return badRequest("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the JSON this endpoint takes: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

func requireType(r *http.Request, types ...string) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(types, mt) {
		return &problemError{status: http.StatusUnsupportedMediaType, kind: "unsupported-media-type",
			title: "Unsupported media type", detail: fmt.Sprintf("send the body as %v", types)}
	}
	return nil
}

// keyScope is the scope of a token's idempotency keys (producer.Request's
// Scope): its name, so that two clients' keys never name one reset, and a
// token whose secret is rotated keeps its keys.
func keyScope(tokenName string) string { return "api-token:" + tokenName }

// requester is who asks through the API: the token's name, and the
// address the request came from (the proxy's, behind one).
func requester(r *http.Request, t *token) tasks.Requester {
	return tasks.Requester{Actor: "api:" + t.Name, Address: listener.RemoteHost(r)}
}

func (a *API) postReset(w http.ResponseWriter, r *http.Request, t *token) error {
	var body ResetRequest
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	giveBack, err := a.limits.take(r.Context(), w, t)
	if err != nil {
		return err
	}
	res, err := a.cfg.Client.Enqueue(r.Context(), producer.Request{Provider: body.Provider, User: body.User,
		Actions: body.Actions, Meta: body.Meta, IdempotencyKey: r.Header.Get("Idempotency-Key"), Scope: keyScope(t.Name),
		Requester: requester(r, t)})
	if err != nil || res.Duplicate {
		giveBack() // nothing new was enqueued: it does not count
	}
	if err != nil {
		return err
	}
	url := "/v1/resets/" + res.TaskID
	w.Header().Set("Location", url)
	return writeJSON(w, http.StatusAccepted, ResetAccepted{ID: res.TaskID, Duplicate: res.Duplicate, StatusURL: url})
}

func (a *API) getReset(w http.ResponseWriter, r *http.Request, t *token) error {
	st, err := a.cfg.Client.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, producer.ErrInvalidRequest) {
			// An ID that cannot be one is simply not found.
			return &problemError{status: http.StatusNotFound, kind: "not-found", title: "Not found", detail: err.Error()}
		}
		return err
	}
	out := ResetStatus{ID: st.TaskID, Held: st.Halt != nil}
	if st.Requester.Actor != "" {
		out.Requester = &st.Requester
	}
	switch st.State {
	case "done", "archived", "completed":
		out.State = "done"
	case "active":
		out.State = "running"
	case "retry":
		out.State = "retrying"
	default:
		out.State = "queued"
	}
	if res := st.Result; res != nil {
		out.FinishedAt = res.FinishedAt
		if slices.Contains(t.Scopes, ScopeOutcomes) {
			out.Outcome, out.Reason, out.Attempts = string(res.Outcome), res.Reason, res.Attempts
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, out)
}
