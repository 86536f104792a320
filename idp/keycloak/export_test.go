package keycloak

import "time"

// SetClock makes the provider's token cache read now: tests move it by
// hand instead of waiting for a token to age.
func (p *Provider) SetClock(now func() time.Time) { p.tokens.Now = now }
