package apiclient

import (
	"fmt"
	"net/url"
	"strings"
)

// BaseURL checks a provider's base_url and returns it without a trailing
// slash, ready for paths to be appended. provider names the package in
// the error ("keycloak: base_url …").
func BaseURL(provider, raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return "", fmt.Errorf("%s: base_url %q is not an http(s) URL", provider, raw)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "", fmt.Errorf("%s: base_url %q must not have a query, fragment or user info", provider, raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}
