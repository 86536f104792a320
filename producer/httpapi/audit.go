package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/resetq/resetq/internal/audit"
)

// getAudit streams the audit trail's records of a window, as `resetq
// audit export` writes them: the same filter, the same writer.
func (a *API) getAudit(w http.ResponseWriter, r *http.Request, _ *token) error {
	if a.cfg.Audit == nil {
		return &problemError{status: http.StatusNotFound, kind: "not-found", title: "Not found",
			detail: "the audit trail is not served here"}
	}
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "since", "until", "actor", "action", "format":
		default:
			return badRequest("unknown parameter %q (known: since, until, actor, action, format)", k)
		}
	}
	f, err := audit.ParseFilter(q.Get("since"), q.Get("until"), q.Get("actor"), q.Get("action"), time.Now())
	var ie *audit.InputError
	if errors.As(err, &ie) {
		return badRequest("%s %q: %s", ie.Name, ie.Value, ie.Problem)
	}
	if err != nil {
		return badRequest("%v", err)
	}
	format, err := audit.ParseFormat(q.Get("format"))
	if err != nil {
		return badRequest("format %v", err)
	}
	if format == audit.CSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/jsonl")
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit.%s"`, format))
	a.lift(w, false)
	return a.cfg.Audit.Export(r.Context(), w, format, f)
}
