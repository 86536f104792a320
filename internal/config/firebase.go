package config

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/firebase"
	"github.com/resetq/resetq/internal/version"
)

// Firebase is a Firebase Authentication provider's own settings.
type Firebase struct {
	// ProjectID is the Firebase (Google Cloud) project.
	ProjectID string `yaml:"project_id"`
	// Credentials is a service account's JSON key (usually
	// credentials_file): resetq calls as an admin.
	Credentials     string `yaml:"credentials"`
	CredentialsFile string `yaml:"credentials_file"`
	// APIKey is the project's Web API key: resetq calls as a client, for
	// users named by email, with no lookups.
	APIKey     string `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	// EmulatorHost is a Firebase Auth emulator's host:port (as
	// FIREBASE_AUTH_EMULATOR_HOST), which takes the place of credentials.
	EmulatorHost string `yaml:"emulator_host"`
	// BaseURL is the Identity Toolkit API (default Google's).
	BaseURL string `yaml:"base_url"`
	// VerifyUser looks an email up first, so an unknown or disabled
	// account is skipped even with email enumeration protection on.
	VerifyUser bool `yaml:"verify_user"`
	// ContinueURL is where the reset page sends the user afterwards.
	ContinueURL string `yaml:"continue_url"`
}

func (*Firebase) Type() string { return "firebase" }

// Accepts is emails only with an API key: a client cannot look users up.
func (f *Firebase) Accepts() idp.UserRefs {
	if f.APIKey != "" {
		return firebase.ClientAccepts
	}
	return firebase.Accepts
}

func (f *Firebase) config(p *Provider, client *http.Client) firebase.Config {
	return firebase.Config{ProjectID: f.ProjectID, BaseURL: f.BaseURL, ServiceAccount: []byte(f.Credentials), APIKey: f.APIKey,
		Emulator: f.EmulatorHost != "", VerifyUser: f.VerifyUser, ContinueURL: f.ContinueURL,
		Timeout: p.Timeout, HTTPClient: client, UserAgent: version.UserAgent()}
}

func (f *Firebase) New(p *Provider, client *http.Client) (idp.Provider, error) {
	return firebase.New(f.config(p, client))
}

func (f *Firebase) secrets() []secret {
	return []secret{{"credentials", &f.Credentials, f.CredentialsFile}, {"api_key", &f.APIKey, f.APIKeyFile}}
}

func (f *Firebase) defaults(*Provider) {
	if f.BaseURL == "" && f.EmulatorHost != "" {
		f.BaseURL = "http://" + f.EmulatorHost + "/identitytoolkit.googleapis.com"
	}
	if f.BaseURL == "" {
		f.BaseURL = firebase.DefaultBaseURL
	}
}

func (f *Firebase) validate(l *loader, p *Provider, path string) {
	if f.ProjectID == "" {
		l.fieldError(path+".project_id", "is required: the Firebase project's id (Project settings → General)")
	}
	ways := 0
	for _, set := range []bool{f.Credentials != "", f.APIKey != "", f.EmulatorHost != ""} {
		if set {
			ways++
		}
	}
	switch {
	case ways == 0:
		l.fieldError(path+".credentials_file", "required: a service account's JSON key (or api_key, or emulator_host for the emulator)")
		return
	case ways > 1:
		l.fieldError(path, "give one of credentials_file, api_key and emulator_host")
		return
	}
	if f.EmulatorHost != "" {
		if _, _, err := net.SplitHostPort(f.EmulatorHost); err != nil {
			l.fieldError(path+".emulator_host", "%q must be host:port, like 127.0.0.1:9099", f.EmulatorHost)
			return
		}
	}
	before := len(l.errs)
	l.checkBaseURL(f.BaseURL, path+".base_url")
	if f.ContinueURL != "" {
		if u, err := url.Parse(f.ContinueURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			l.fieldError(path+".continue_url", "%q must be an http:// or https:// URL on a domain the project authorises", f.ContinueURL)
		}
	}
	if f.VerifyUser && f.APIKey != "" {
		l.fieldError(path+".verify_user", "looks users up as an admin, and an API key is a client's: use credentials_file (a service account)")
		return
	}
	if f.ProjectID == "" || len(l.errs) > before {
		return
	}
	if _, err := firebase.New(f.config(p, nil)); err != nil {
		// The key's own problems (not JSON, not a service account's).
		l.fieldError(path+".credentials", "%s", strings.TrimPrefix(err.Error(), "firebase: "))
	}
}
