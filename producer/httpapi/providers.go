package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/resetq/resetq/tasks"
)

// ErrUnknownProvider is what Halts returns for a provider that is not
// configured; the API answers 404.
var ErrUnknownProvider = errors.New("provider is not configured")

// Halts reads and lifts providers' halts. The binary hands over resetq's
// halt service, which emits provider.resumed for each resume that lifted a
// halt, whoever asked for it (the API, the command line).
type Halts interface {
	// Halt says whether the provider is halted, and why. Both methods
	// return ErrUnknownProvider for a provider that is not configured.
	Halt(ctx context.Context, provider string) (ProviderHalt, error)
	// Resume lifts the provider's halt, if it has one.
	Resume(ctx context.Context, provider string) (ProviderResumed, error)
}

// ProviderHalt is the answer to GET /v1/providers/{provider}/halt.
type ProviderHalt struct {
	Provider string `json:"provider"`
	Halted   bool   `json:"halted"`
	// Reason, Hint and Since say why and since when, when Halted.
	Reason string     `json:"reason,omitempty"`
	Hint   string     `json:"hint,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}

// ProviderResumed is the answer to POST /v1/providers/{provider}/resume.
type ProviderResumed struct {
	Provider  string `json:"provider"`
	WasHalted bool   `json:"was_halted"`
	// Reason and Since are the halt's that was lifted.
	Reason string     `json:"reason,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
	// Requeued counts tasks archived during the halt and put back.
	Requeued int `json:"requeued"`
}

// routeProviders serves the halt of each provider, when Config.Halts is
// set. Reading and lifting a halt is an operator's, like steering a
// campaign: both need the campaigns scope.
func (a *API) routeProviders() {
	if a.cfg.Halts == nil {
		return
	}
	a.route("/v1/providers/{provider}/halt", ScopeCampaigns, map[string]handler{http.MethodGet: a.getHalt})
	a.route("/v1/providers/{provider}/resume", ScopeCampaigns, map[string]handler{http.MethodPost: a.postResume})
}

// providerName is the request's provider; a name that cannot be one is
// not found. The halt record (the error's message included, which can
// name a user) is never sent: the reason and the hint say what to fix.
func providerName(r *http.Request) (string, error) {
	name := r.PathValue("provider")
	if err := tasks.ValidateName(name); err != nil {
		return "", &problemError{status: http.StatusNotFound, kind: "not-found", title: "Not found",
			detail: "no provider " + name + ": " + err.Error()}
	}
	return name, nil
}

func (a *API) getHalt(w http.ResponseWriter, r *http.Request, _ *token) error {
	out, err := forProvider(r, a.cfg.Halts.Halt)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) postResume(w http.ResponseWriter, r *http.Request, t *token) error {
	out, err := forProvider(r, a.cfg.Halts.Resume)
	if err != nil {
		return err
	}
	if out.WasHalted {
		a.log.Info("provider resumed through the API", "provider", out.Provider, "client", t.Name, "reason", out.Reason)
	}
	return writeJSON(w, http.StatusOK, out)
}

// forProvider calls fn with the request's provider.
func forProvider[T any](r *http.Request, fn func(context.Context, string) (T, error)) (T, error) {
	name, err := providerName(r)
	if err != nil {
		var none T
		return none, err
	}
	out, err := fn(r.Context(), name)
	if errors.Is(err, ErrUnknownProvider) {
		err = &problemError{status: http.StatusNotFound, kind: "not-found", title: "Not found",
			detail: "provider " + name + " is not configured"}
	}
	return out, err
}
