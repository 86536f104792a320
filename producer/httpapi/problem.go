package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/producer"
)

// ProblemTypePrefix starts every problem's type URI.
const ProblemTypePrefix = "urn:resetq:problem:"

// Problem is an RFC 9457 problem document, with resetq's one extension:
// the rows a campaign upload was refused for.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists invalid rows by line (the first 1000); Invalid counts
	// them all.
	Errors  []producer.Problem `json:"errors,omitempty"`
	Invalid int                `json:"invalid,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, kind, title, detail string) {
	writeProblemDoc(w, Problem{Type: ProblemTypePrefix + kind, Title: title, Status: status, Detail: detail})
}

func writeProblemDoc(w http.ResponseWriter, p Problem) {
	switch p.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		// The body, if any, will not be read: answer now and close.
		listener.CloseWithoutBody(w)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// problemError is an error a handler returns to answer with a problem.
type problemError struct {
	status      int
	kind, title string
	detail      string
	errors      []producer.Problem
	invalid     int
}

func (e *problemError) Error() string { return e.detail }

func badRequest(format string, args ...any) error {
	return &problemError{status: http.StatusBadRequest, kind: "bad-request", title: "Bad request", detail: fmt.Sprintf(format, args...)}
}

// fail answers a handler's error. Errors that are not the client's are
// logged and answered without their text, which may name internals.
func (a *API) fail(w *recorder, r *http.Request, err error) {
	if w.wrote {
		// A streamed response broke off; the client sees it truncated.
		a.log.Warn("api response broke off", "method", r.Method, "path", r.URL.Path, "error", err)
		return
	}
	var pe *problemError
	var mbe *http.MaxBytesError
	var ire *producer.InvalidRowsError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &mbe):
		pe = &problemError{status: http.StatusRequestEntityTooLarge, kind: "too-large", title: "Request too large",
			detail: fmt.Sprintf("the body is larger than the limit of %d bytes", mbe.Limit)}
	case errors.As(err, &ire):
		pe = &problemError{status: http.StatusUnprocessableEntity, kind: "invalid-rows", title: "Invalid rows",
			detail: ire.Error(), errors: nonDuplicates(ire.Scan.Problems), invalid: ire.Scan.Invalid}
	case errors.Is(err, producer.ErrInvalidRequest):
		pe = &problemError{status: http.StatusUnprocessableEntity, kind: "invalid-request", title: "Invalid request",
			detail: strings.TrimPrefix(err.Error(), producer.ErrInvalidRequest.Error()+": ")}
	case errors.Is(err, producer.ErrIdempotencyConflict):
		pe = &problemError{status: http.StatusConflict, kind: "idempotency-conflict", title: "Idempotency key already used",
			detail: strings.TrimPrefix(err.Error(), producer.ErrIdempotencyConflict.Error()+": ")}
	case errors.Is(err, producer.ErrCampaignNotFound), errors.Is(err, producer.ErrTaskNotFound):
		pe = &problemError{status: http.StatusNotFound, kind: "not-found", title: "Not found", detail: err.Error()}
	case errors.Is(err, producer.ErrCampaignExists), errors.Is(err, producer.ErrCampaignState):
		pe = &problemError{status: http.StatusConflict, kind: "conflict", title: "Conflict", detail: err.Error()}
	default:
		a.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		pe = &problemError{status: http.StatusServiceUnavailable, kind: "unavailable", title: "Unavailable",
			detail: "the request could not be served (is Redis reachable?); try again"}
	}
	writeProblemDoc(w, Problem{Type: ProblemTypePrefix + pe.kind, Title: pe.title, Status: pe.status, Detail: pe.detail,
		Errors: pe.errors, Invalid: pe.invalid})
}

// nonDuplicates keeps the rows that are wrong; duplicates are not.
func nonDuplicates(ps []producer.Problem) []producer.Problem {
	var out []producer.Problem
	for _, p := range ps {
		if p.Reason != producer.ReasonDuplicateRow {
			out = append(out, p)
		}
	}
	return out
}
