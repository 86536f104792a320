package firebasetest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/firebase/firebasetest"
)

// answer is a status and a decoded JSON body.
type answer struct {
	status int
	body   map[string]any
	raw    string
}

// auth is how a call is authorised.
type auth int

const (
	admin  auth = iota // the bearer "owner"
	client             // an API key
	nobody
)

// ask makes a call to an emulator at root (its URL, not its base URL).
func ask(t *testing.T, a auth, method, url string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	if a == client {
		url += "?key=any-key"
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a == admin {
		req.Header.Set("Authorization", "Bearer owner")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := answer{status: res.StatusCode, raw: string(b)}
	require.NoError(t, json.Unmarshal(b, &out.body), "every answer is JSON: %s", b)
	return out
}

// googleError is the error document's code, message and status.
func googleError(t *testing.T, a answer) (code float64, message, status string) {
	t.Helper()
	e, ok := a.body["error"].(map[string]any)
	require.True(t, ok, "an error document: %s", a.raw)
	status, _ = e["status"].(string)
	return e["code"].(float64), e["message"].(string), status
}

// behaves puts to the emulator at root the questions resetq's Firebase
// provider depends on; Google's emulator must answer them alike
// (compare_e2e_test.go).
func behaves(t *testing.T, root string) {
	const project = "demo-resetq"
	base := root + firebasetest.Prefix
	proj := base + "/v1/projects/" + project
	emu := root + "/emulator/v1/projects/" + project
	send := func(a auth, email string) answer {
		body := map[string]any{"requestType": "PASSWORD_RESET"}
		if email != "" {
			body["email"] = email
		}
		if a == admin {
			return ask(t, a, http.MethodPost, proj+"/accounts:sendOobCode", body)
		}
		return ask(t, a, http.MethodPost, base+"/v1/accounts:sendOobCode", body)
	}
	requireCode := func(a answer, status int, message string) {
		t.Helper()
		require.Equal(t, status, a.status, a.raw)
		c, m, _ := googleError(t, a)
		require.Equal(t, float64(status), c)
		require.Equal(t, message, m)
	}
	setPrivacy := func(on bool) {
		a := ask(t, nobody, http.MethodPatch, emu+"/config", map[string]any{"emailPrivacyConfig": map[string]any{"enableImprovedEmailPrivacy": on}})
		require.Equal(t, http.StatusOK, a.status, a.raw)
		require.Equal(t, on, a.body["emailPrivacyConfig"].(map[string]any)["enableImprovedEmailPrivacy"])
	}
	require.Equal(t, http.StatusOK, ask(t, nobody, http.MethodDelete, emu+"/accounts", nil).status)
	setPrivacy(false)

	// Users are made as an admin; the address is kept in lower case.
	up := ask(t, admin, http.MethodPost, proj+"/accounts", map[string]any{"email": "Alice@Example.com", "password": "secret123"})
	require.Equal(t, http.StatusOK, up.status, up.raw)
	require.Equal(t, "identitytoolkit#SignupNewUserResponse", up.body["kind"])
	require.Equal(t, "alice@example.com", up.body["email"])
	alice := up.body["localId"].(string)
	require.NotEmpty(t, alice)
	off := ask(t, admin, http.MethodPost, proj+"/accounts", map[string]any{"email": "off@example.com", "password": "secret123", "disabled": true})
	require.Equal(t, http.StatusOK, off.status, off.raw)
	requireCode(ask(t, admin, http.MethodPost, proj+"/accounts", map[string]any{"email": "alice@example.com", "password": "x1234567"}),
		http.StatusBadRequest, "EMAIL_EXISTS")

	t.Run("a reset, as an admin and with a key", func(t *testing.T) {
		for _, a := range []auth{admin, client} {
			got := send(a, "ALICE@example.com")
			require.Equal(t, http.StatusOK, got.status, got.raw)
			require.Equal(t, "identitytoolkit#GetOobConfirmationCodeResponse", got.body["kind"])
			require.Equal(t, "alice@example.com", got.body["email"])
			require.NotContains(t, got.body, "oobCode", "the code is mailed, not returned")
		}
		codes := ask(t, nobody, http.MethodGet, emu+"/oobCodes", nil)
		require.Equal(t, http.StatusOK, codes.status)
		var n int
		for _, c := range codes.body["oobCodes"].([]any) {
			c := c.(map[string]any)
			if c["email"] == "alice@example.com" {
				n++
				require.Equal(t, "PASSWORD_RESET", c["requestType"])
				require.NotEmpty(t, c["oobCode"])
				require.Contains(t, c["oobLink"], "mode=resetPassword")
				require.Contains(t, c["oobLink"], "oobCode="+c["oobCode"].(string))
			}
		}
		require.Equal(t, 2, n, "one code per reset: %s", codes.raw)
	})

	t.Run("a disabled user is sent a reset too", func(t *testing.T) {
		require.Equal(t, http.StatusOK, send(admin, "off@example.com").status)
	})

	t.Run("an unknown address, with and without enumeration protection", func(t *testing.T) {
		requireCode(send(admin, "nobody@example.com"), http.StatusBadRequest, "EMAIL_NOT_FOUND")
		requireCode(send(client, "nobody@example.com"), http.StatusBadRequest, "EMAIL_NOT_FOUND")
		setPrivacy(true)
		defer setPrivacy(false)
		got := send(admin, "nobody@example.com")
		require.Equal(t, http.StatusOK, got.status, "protected: an unknown address answers as a known one")
		require.Equal(t, "nobody@example.com", got.body["email"])
		cfg := ask(t, admin, http.MethodGet, base+"/v2/projects/"+project+"/config", nil)
		require.Equal(t, http.StatusOK, cfg.status, cfg.raw)
		require.Equal(t, true, cfg.body["emailPrivacyConfig"].(map[string]any)["enableImprovedEmailPrivacy"])
	})

	t.Run("a request with no address, the check's probe", func(t *testing.T) {
		requireCode(send(admin, ""), http.StatusBadRequest, "MISSING_EMAIL")
		requireCode(send(client, ""), http.StatusBadRequest, "MISSING_EMAIL")
	})

	t.Run("credentials", func(t *testing.T) {
		got := send(nobody, "alice@example.com")
		c, m, status := googleError(t, got)
		require.Equal(t, float64(http.StatusForbidden), c)
		require.Equal(t, "PERMISSION_DENIED", status)
		require.Equal(t, "The request is missing a valid API key.", m)

		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, proj+"/accounts:sendOobCode",
			strings.NewReader(`{"requestType":"PASSWORD_RESET","email":"alice@example.com"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer not-a-token")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.Contains(t, string(b), `"UNAUTHENTICATED"`)

		// A project's calls are an admin's.
		requireCode(ask(t, client, http.MethodPost, proj+"/accounts:lookup", map[string]any{"email": []string{"alice@example.com"}}),
			http.StatusBadRequest, "INSUFFICIENT_PERMISSION : Only authenticated requests can specify target_project_id.")
	})

	t.Run("lookups", func(t *testing.T) {
		got := ask(t, admin, http.MethodPost, proj+"/accounts:lookup", map[string]any{"email": []string{"OFF@example.com"}})
		require.Equal(t, http.StatusOK, got.status, got.raw)
		users := got.body["users"].([]any)
		require.Len(t, users, 1)
		u := users[0].(map[string]any)
		require.Equal(t, "off@example.com", u["email"])
		require.Equal(t, true, u["disabled"])

		got = ask(t, admin, http.MethodPost, proj+"/accounts:lookup", map[string]any{"localId": []string{alice}})
		require.Equal(t, "alice@example.com", got.body["users"].([]any)[0].(map[string]any)["email"])
		require.NotContains(t, got.body["users"].([]any)[0], "disabled", "an enabled user carries no disabled field")

		none := ask(t, admin, http.MethodPost, proj+"/accounts:lookup", map[string]any{"localId": []string{"no-such-user"}})
		require.Equal(t, http.StatusOK, none.status)
		require.Equal(t, "identitytoolkit#GetAccountInfoResponse", none.body["kind"])
		require.NotContains(t, none.body, "users", "no users: no field")

		upd := ask(t, admin, http.MethodPost, proj+"/accounts:update", map[string]any{"localId": alice, "disableUser": true})
		require.Equal(t, http.StatusOK, upd.status, upd.raw)
		got = ask(t, admin, http.MethodPost, proj+"/accounts:lookup", map[string]any{"localId": []string{alice}})
		require.Equal(t, true, got.body["users"].([]any)[0].(map[string]any)["disabled"])
		requireCode(ask(t, admin, http.MethodPost, proj+"/accounts:update", map[string]any{"localId": "no-such-user", "disableUser": true}),
			http.StatusBadRequest, "USER_NOT_FOUND")
	})

	t.Run("a continue URL must be absolute", func(t *testing.T) {
		got := ask(t, admin, http.MethodPost, proj+"/accounts:sendOobCode",
			map[string]any{"requestType": "PASSWORD_RESET", "email": "off@example.com", "continueUrl": "not-a-url"})
		requireCode(got, http.StatusBadRequest, "INVALID_CONTINUE_URI : ((expected an absolute URI with valid scheme and host))")
	})

	t.Run("an unknown path", func(t *testing.T) {
		got := ask(t, admin, http.MethodPost, proj+"/accounts:nothing", map[string]any{})
		c, _, status := googleError(t, got)
		require.Equal(t, float64(http.StatusNotFound), c)
		require.Equal(t, "NOT_FOUND", status)
	})
}

func TestTheEmulatorBehaves(t *testing.T) {
	t.Parallel()
	s := firebasetest.NewServer()
	t.Cleanup(s.Close)
	behaves(t, s.URL())
}
