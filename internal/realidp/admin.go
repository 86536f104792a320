package realidp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// AdminError is an admin API answer outside 2xx.
type AdminError struct {
	// Method and Path are the request's (Path without the base URL).
	Method, Path string
	Status       int
	// Body is the start of the answer's body.
	Body string
}

// Error says which call failed, how, and what Keycloak answered.
func (e *AdminError) Error() string {
	return fmt.Sprintf("Keycloak admin API: %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Body)
}

// excerpt is the start of an answer's body, for an error.
func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) <= 400 {
		return s
	}
	cut := 400
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// adminToken returns a master-realm admin token (password grant, client
// admin-cli), fetching a new one when the cached one has under 15 s left:
// master tokens last 60 s.
func (k *Keycloak) adminToken(ctx context.Context) (string, error) {
	k.tokenMu.Lock()
	defer k.tokenMu.Unlock()
	if k.token != "" && time.Until(k.tokenExp) > 15*time.Second {
		return k.token, nil
	}
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {"admin-cli"},
		"username":   {k.adminUser},
		"password":   {k.adminPassword},
	}
	tok, err := k.Token(ctx, "master", form)
	if err != nil {
		return "", fmt.Errorf("admin token for %s: %w", k.adminUser, err)
	}
	k.token, k.tokenExp = tok.AccessToken, time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second)
	return k.token, nil
}

// TokenResponse is the token endpoint's answer.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

// Token posts form to realm's token endpoint: a client_credentials or
// password grant for a test. An answer other than 200 is an *AdminError.
func (k *Keycloak) Token(ctx context.Context, realm string, form url.Values) (*TokenResponse, error) {
	path := "/realms/" + url.PathEscape(realm) + "/protocol/openid-connect/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &AdminError{Method: http.MethodPost, Path: path, Status: resp.StatusCode, Body: excerpt(b)}
	}
	var tok TokenResponse
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("POST %s: no access_token in %s", path, excerpt(b))
	}
	return &tok, nil
}

// Do sends an admin API request as the master realm's admin. path is
// relative to the base URL ("/admin/realms/corp/users"); body, when not
// nil, is sent as JSON (a json.RawMessage as it is). Any answer is
// returned with its status: non-2xx is not an error here.
func (k *Keycloak) Do(ctx context.Context, method, path string, body any) (status int, resp []byte, err error) {
	token, err := k.adminToken(ctx)
	if err != nil {
		return 0, nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: encoding the body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := k.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return res.StatusCode, b, nil
}

// call is Do with non-2xx as an *AdminError, decoding a JSON answer into
// out when out is not nil.
func (k *Keycloak) call(ctx context.Context, method, path string, body, out any) error {
	status, b, err := k.Do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return &AdminError{Method: method, Path: path, Status: status, Body: excerpt(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding %s: %w", method, path, excerpt(b), err)
		}
	}
	return nil
}

// merge GETs the representation at path, sets the patch's top-level keys
// and PUTs it back.
func (k *Keycloak) merge(ctx context.Context, path string, patch map[string]any) error {
	var rep map[string]any
	if err := k.call(ctx, http.MethodGet, path, nil, &rep); err != nil {
		return err
	}
	for key, v := range patch {
		rep[key] = v
	}
	return k.call(ctx, http.MethodPut, path, rep, nil)
}

func realmPath(realm string) string { return "/admin/realms/" + url.PathEscape(realm) }

// CreateRealm creates the realm described by realmJSON, a
// RealmRepresentation such as E2ERealm returns.
func (k *Keycloak) CreateRealm(ctx context.Context, realmJSON []byte) error {
	return k.call(ctx, http.MethodPost, "/admin/realms", json.RawMessage(realmJSON), nil)
}

// DeleteRealm deletes the realm name.
func (k *Keycloak) DeleteRealm(ctx context.Context, name string) error {
	return k.call(ctx, http.MethodDelete, realmPath(name), nil, nil)
}

// UpdateRealm sets the patch's top-level keys in the realm's
// representation ("emailTheme", "smtpServer", …).
func (k *Keycloak) UpdateRealm(ctx context.Context, name string, patch map[string]any) error {
	return k.merge(ctx, realmPath(name), patch)
}

// UserID returns the id of the user with exactly this username.
func (k *Keycloak) UserID(ctx context.Context, realm, username string) (string, error) {
	path := realmPath(realm) + "/users?exact=true&username=" + url.QueryEscape(username)
	var users []struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	if err := k.call(ctx, http.MethodGet, path, nil, &users); err != nil {
		return "", err
	}
	for _, u := range users {
		if strings.EqualFold(u.Username, username) {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("realm %s has no user %q", realm, username)
}

// UpdateUser sets the patch's top-level keys in the user's representation
// ("enabled", "email", …).
func (k *Keycloak) UpdateUser(ctx context.Context, realm, id string, patch map[string]any) error {
	return k.merge(ctx, realmPath(realm)+"/users/"+url.PathEscape(id), patch)
}

// ClientUUID returns the internal id of the client clientID.
func (k *Keycloak) ClientUUID(ctx context.Context, realm, clientID string) (string, error) {
	var clients []struct {
		ID       string `json:"id"`
		ClientID string `json:"clientId"`
	}
	path := realmPath(realm) + "/clients?clientId=" + url.QueryEscape(clientID)
	if err := k.call(ctx, http.MethodGet, path, nil, &clients); err != nil {
		return "", err
	}
	for _, c := range clients {
		if c.ClientID == clientID {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("realm %s has no client %q", realm, clientID)
}

// UpdateClient sets the patch's top-level keys in the client's
// representation ("enabled", "serviceAccountsEnabled", …).
func (k *Keycloak) UpdateClient(ctx context.Context, realm, clientID string, patch map[string]any) error {
	id, err := k.ClientUUID(ctx, realm, clientID)
	if err != nil {
		return err
	}
	return k.merge(ctx, realmPath(realm)+"/clients/"+url.PathEscape(id), patch)
}

// RegenerateSecret gives the client a new secret and returns it: the old
// one stops working at once.
func (k *Keycloak) RegenerateSecret(ctx context.Context, realm, clientID string) (string, error) {
	id, err := k.ClientUUID(ctx, realm, clientID)
	if err != nil {
		return "", err
	}
	var cred struct {
		Value string `json:"value"`
	}
	if err := k.call(ctx, http.MethodPost, realmPath(realm)+"/clients/"+url.PathEscape(id)+"/client-secret", nil, &cred); err != nil {
		return "", err
	}
	if cred.Value == "" {
		return "", fmt.Errorf("regenerating the secret of %s in %s: no secret in the answer", clientID, realm)
	}
	return cred.Value, nil
}

// RevokeTokens makes every token the realm issued so far invalid, while
// tokens issued after it returns work. Keycloak refuses a token whose
// whole-second iat is before the realm's notBefore; so notBefore becomes
// the next second, and RevokeTokens returns once the clock has reached it.
// Keycloak sends no Date header: the clock is this machine's, which is
// the server's for every Keycloak this package starts or the devstack
// runs.
func (k *Keycloak) RevokeTokens(ctx context.Context, realm string) error {
	notBefore := time.Now().Unix() + 1
	if err := k.UpdateRealm(ctx, realm, map[string]any{"notBefore": notBefore}); err != nil {
		return fmt.Errorf("revoking %s's tokens: %w", realm, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Unix() < notBefore {
		select {
		case <-ctx.Done():
			return fmt.Errorf("revoking %s's tokens: the clock did not reach notBefore %d: %w", realm, notBefore, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Partial imports get slower than linearly with their size (one
// transaction checks each user against the ones before it): measured on
// 2 busy cores, 10,000 users took 95 s in batches of 2,000, 6 s in
// batches of 100, and 4 s in batches of 100 sent 4 at a time.
const (
	importBatch    = 100
	importParallel = 4
)

// AddUsers imports users (UserRepresentations with distinct usernames)
// into the realm through partial imports of 100, four at a time; users
// that exist already are skipped.
func (k *Keycloak) AddUsers(ctx context.Context, realm string, users []map[string]any) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	path := realmPath(realm) + "/partialImport"
	starts := make(chan int)
	var wg sync.WaitGroup
	for range importParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range starts {
				if err := k.importUsers(ctx, path, users, start); err != nil {
					cancel(fmt.Errorf("adding users to %s: %w", realm, err))
				}
			}
		}()
	}
feed:
	for start := 0; start < len(users); start += importBatch {
		select {
		case starts <- start:
		case <-ctx.Done():
			break feed
		}
	}
	close(starts)
	wg.Wait()
	return context.Cause(ctx)
}

// importUsers imports the batch of users beginning at start.
func (k *Keycloak) importUsers(ctx context.Context, path string, users []map[string]any, start int) error {
	end := min(start+importBatch, len(users))
	body := map[string]any{"ifResourceExists": "SKIP", "users": users[start:end]}
	var res struct {
		Added, Skipped int
	}
	if err := k.call(ctx, http.MethodPost, path, body, &res); err != nil {
		return fmt.Errorf("users %d–%d of %d: %w", start+1, end, len(users), err)
	}
	if res.Added+res.Skipped != end-start {
		return fmt.Errorf("users %d–%d of %d: %d added and %d skipped", start+1, end, len(users), res.Added, res.Skipped)
	}
	return nil
}

// AdminEvents returns the realm's admin events matching q (operationTypes,
// resourceTypes, first, max, …); the realm must record them
// (adminEventsEnabled).
func (k *Keycloak) AdminEvents(ctx context.Context, realm string, q url.Values) ([]map[string]any, error) {
	path := realmPath(realm) + "/admin-events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var events []map[string]any
	if err := k.call(ctx, http.MethodGet, path, nil, &events); err != nil {
		return nil, err
	}
	return events, nil
}
