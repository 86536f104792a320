package keycloaktest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Proxy stands in front of a real Keycloak with the emulator's request log
// and fault knobs (emulator.Proxy), the requests named with this
// emulator's endpoints: the conformance suite runs against the real server
// through it exactly as against the emulator. Its URL is the base URL to
// configure resetq with; Close stops it.
type Proxy struct {
	*emulator.Proxy
}

// NewProxy starts a Proxy on a loopback port in front of target, a
// Keycloak base URL.
func NewProxy(target string) (*Proxy, error) {
	p, err := emulator.NewProxy(target, func(r *http.Request) emulator.Endpoint {
		ep, _, _, _ := route(r.Method, r.URL.Path)
		return ep
	}, defaultBody)
	if err != nil {
		return nil, fmt.Errorf("keycloaktest: %w", err)
	}
	return &Proxy{p}, nil
}

// TokenRequests counts requests to token endpoints.
func (p *Proxy) TokenRequests() int { return len(p.RequestsTo(EndpointToken)) }

// IssuedTokens returns the access tokens Keycloak issued through the
// proxy, oldest first.
func (p *Proxy) IssuedTokens() []string {
	var out []string
	for _, r := range p.RequestsTo(EndpointToken) {
		var t struct {
			AccessToken string `json:"access_token"`
		}
		if r.Status == http.StatusOK && json.Unmarshal(r.Response, &t) == nil && t.AccessToken != "" {
			out = append(out, t.AccessToken)
		}
	}
	return out
}
