package keycloak_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/keycloak"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/testclock"
)

func emulator(t *testing.T) (*keycloaktest.Server, keycloaktest.Sample) {
	t.Helper()
	s := keycloaktest.NewServer()
	t.Cleanup(s.Close)
	s.AddServiceAccount("corp", "resetq", "s3cr3t-client")
	return s, s.AddSampleUsers("corp", 40)
}

func TestManyGoroutinesShareOneTokenFetch(t *testing.T) {
	t.Parallel()
	s, sample := emulator(t)
	s.SetLatency(50 * time.Millisecond) // a slow token endpoint invites a stampede
	p := newProvider(t, s.URL())
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() { errs <- p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: sample.Emails[i]}}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, s.TokenRequests())
	require.Equal(t, 30, s.TotalResets())
}

func TestPasswordGrantRefreshesThenLogsInAgainWhenTheSessionIsGone(t *testing.T) {
	t.Parallel()
	s, sample := emulator(t)
	s.SetTokenLifespan("master", time.Hour)
	p := newProvider(t, s.URL(), func(c *keycloak.Config) {
		c.Grant, c.TokenRealm, c.ClientID, c.ClientSecret = keycloak.GrantPassword, "master", "", ""
		c.Username, c.Password = keycloaktest.MasterAdminUser, keycloaktest.MasterAdminPassword
	})
	clock := testclock.New(time.Now())
	p.SetClock(clock.Now)
	ctx := context.Background()
	reset := func(i int) { require.NoError(t, p.Reset(ctx, idp.Request{User: idp.UserRef{Email: sample.Emails[i]}})) }

	reset(0)
	first := lastBearer(s)
	// Past its refresh point (80 % of its hour) the token is replaced in
	// the background; wait until the replacement is in use.
	clock.Add(50 * time.Minute)
	require.Eventually(t, func() bool { reset(1); return lastBearer(s) != first }, 5*time.Second, time.Millisecond)
	require.Equal(t, []string{"password", "refresh_token"}, grants(s), "the refresh token saves a password login")

	s.ExpireAllTokens() // the refresh token dies with the session
	reset(2)
	g := grants(s)
	require.Equal(t, "refresh_token", g[len(g)-2], "tried the refresh token first")
	require.Equal(t, "password", g[len(g)-1], "then logged in again")
}

// lastBearer is the token of the latest user lookup.
func lastBearer(s *keycloaktest.Server) string {
	reqs := s.RequestsTo(keycloaktest.EndpointUsers)
	return reqs[len(reqs)-1].Bearer
}

func grants(s *keycloaktest.Server) []string {
	var out []string
	for _, r := range s.RequestsTo(keycloaktest.EndpointToken) {
		if r.Status == 200 || r.Status == 400 {
			v := string(r.Body)
			for _, g := range []string{"refresh_token", "password", "client_credentials"} {
				if strings.Contains(v, "grant_type="+g) {
					out = append(out, g)
					break
				}
			}
		}
	}
	return out
}

func TestAnExpiredTokenIsReplacedOnceAndTheCallRetried(t *testing.T) {
	t.Parallel()
	s, sample := emulator(t)
	p := newProvider(t, s.URL())
	ctx := context.Background()
	require.NoError(t, p.Reset(ctx, idp.Request{User: idp.UserRef{Email: sample.Emails[0]}}))
	s.ExpireAllTokens()
	require.NoError(t, p.Reset(ctx, idp.Request{User: idp.UserRef{Email: sample.Emails[1]}}))
	require.Equal(t, 2, s.TokenRequests())
	require.Equal(t, 2, s.TotalResets())
}

func TestACallerThatGivesUpDoesNotFailTheOthers(t *testing.T) {
	t.Parallel()
	s, sample := emulator(t)
	s.SetLatency(200 * time.Millisecond)
	p := newProvider(t, s.URL())
	impatient, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: sample.Emails[0]}}) }()
	err := p.Reset(impatient, idp.Request{User: idp.UserRef{Email: sample.Emails[1]}})
	require.Error(t, err)
	require.Equal(t, idp.Transient, idp.AsError(err).Kind)
	require.NoError(t, <-done, "the patient caller still got the shared token")
	require.Equal(t, 1, s.TokenRequests())
}

func TestBaseURLWithAuthPrefix(t *testing.T) {
	t.Parallel()
	s := keycloaktest.NewServer(keycloaktest.WithPathPrefix("/auth"))
	t.Cleanup(s.Close)
	s.AddServiceAccount("corp", "resetq", "s3cr3t-client")
	sample := s.AddSampleUsers("corp", 5)
	p := newProvider(t, s.URL()+"/")
	require.NoError(t, p.Reset(context.Background(), idp.Request{User: idp.UserRef{Email: sample.Emails[0]}}))
	_, err := p.Check(context.Background())
	require.NoError(t, err)
}

func TestNewRefusesIncompleteConfigs(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]keycloak.Config{
		"no scheme":       {BaseURL: "sso.example.com", Realm: "r", ClientID: "c", ClientSecret: "s"},
		"query":           {BaseURL: "https://sso.example.com/?x=1", Realm: "r", ClientID: "c", ClientSecret: "s"},
		"no realm":        {BaseURL: "https://sso.example.com", ClientID: "c", ClientSecret: "s"},
		"no secret":       {BaseURL: "https://sso.example.com", Realm: "r", ClientID: "c"},
		"no password":     {BaseURL: "https://sso.example.com", Realm: "r", Grant: keycloak.GrantPassword, Username: "u"},
		"unknown grant":   {BaseURL: "https://sso.example.com", Realm: "r", Grant: "implicit"},
		"redirect alone":  {BaseURL: "https://sso.example.com", Realm: "r", ClientID: "c", ClientSecret: "s", RedirectURI: "https://x"},
		"user info in it": {BaseURL: "https://u:p@sso.example.com", Realm: "r", ClientID: "c", ClientSecret: "s"},
	} {
		_, err := keycloak.New(cfg)
		require.Error(t, err, name)
	}
}
