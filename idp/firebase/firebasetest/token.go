package firebasetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// EndpointToken is Google's OAuth 2.0 token endpoint, as the emulator
// plays it: POST /token trades a service account's signed JWT for an
// access token.
const EndpointToken emulator.Endpoint = "token"

// ServiceAccount makes a service account of the project with a new key
// and returns its JSON key file, whose token_uri is the emulator's: the
// tokens it gets are the project's admin's.
func (s *Server) ServiceAccount(projectID, name string) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // the system's randomness failed
	}
	email := name + "@" + projectID + ".iam.gserviceaccount.com"
	s.mu.Lock()
	s.accounts[email] = &key.PublicKey
	s.mu.Unlock()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	out, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": projectID, "private_key_id": rand.Text(),
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": "1", "token_uri": s.URL() + "/token",
	})
	return out
}

// DeleteServiceAccountKeys deletes every service account key, as an
// administrator revoking them would: the token endpoint refuses them, and
// the tokens issued stop working.
func (s *Server) DeleteServiceAccountKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.accounts)
	clear(s.tokens)
}

// ExpireTokens makes every access token issued so far expire.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// IssuedTokens returns every access token issued, oldest first.
func (s *Server) IssuedTokens() []string {
	return emulator.Locked(&s.mu, func() []string { return slices.Clone(s.everIssued) })
}

// TokensIssued counts the access tokens the token endpoint issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// token answers the JWT bearer grant as Google's token endpoint does.
func (s *Server) token(w http.ResponseWriter, body []byte) {
	form, _ := url.ParseQuery(string(body))
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Invalid grant_type: " + form.Get("grant_type")})
		return
	}
	iss, ok := s.verify(form.Get("assertion"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
		return
	}
	tok := "ya29." + rand.Text()
	s.tokens[tok] = iss
	s.issued++
	s.everIssued = append(s.everIssued, tok)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

// verify checks a JWT's RS256 signature against its issuer's key.
func (s *Server) verify(jwt string) (iss string, ok bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", false
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(claims, &c) != nil {
		return "", false
	}
	pub := s.accounts[c.Iss]
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if pub == nil || err != nil {
		return "", false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return c.Iss, rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}
