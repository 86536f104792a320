package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

// TestASlowProviderDoesNotStarveAnother: one provider's IdP takes seconds
// per call (a Keycloak whose SMTP relay times out); another provider's
// resets must still go through at once.
func TestASlowProviderDoesNotStarveAnother(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	slow, fast := keycloaktest.NewServer(), keycloaktest.NewServer()
	t.Cleanup(slow.Close)
	t.Cleanup(fast.Close)
	for _, kc := range []*keycloaktest.Server{slow, fast} {
		kc.AddServiceAccount(realm, "resetq", testSecret)
	}
	slowUsers, fastUsers := slow.AddSampleUsers(realm, 20), fast.AddSampleUsers(realm, 20)
	c, w := startFromYAML(t, fmt.Sprintf(
		"redis: {url: %q}\nworker: {concurrency: 4, poll_interval: 20ms, shutdown_timeout: 1s}\nhttp: {listen: \"127.0.0.1:0\"}\nproviders:\n%s%s",
		r.URL(0), keycloakProvider("slow", slow.URL(), realm), keycloakProvider("fast", fast.URL(), realm)))
	client := c.client

	w.waitReady(t)
	slow.SetLatency(4 * time.Second)
	for _, e := range slowUsers.Emails[:12] {
		_, err := client.Enqueue(context.Background(), producer.Request{Provider: "slow", User: tasks.User{Email: e}})
		require.NoError(t, err)
	}
	eventually(t, 5*time.Second, func() bool { return len(slow.RequestsTo(keycloaktest.EndpointUsers)) >= 5 }, "the slow provider is busy")

	start := time.Now()
	var ids []string
	for _, e := range fastUsers.Emails[:8] {
		res, err := client.Enqueue(context.Background(), producer.Request{Provider: "fast", User: tasks.User{Email: e}})
		require.NoError(t, err)
		ids = append(ids, res.TaskID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, id := range ids {
		r, err := client.Wait(ctx, id)
		require.NoError(t, err, "the fast provider's resets waited behind the slow one's")
		require.Equal(t, tasks.Succeeded, r.Outcome)
	}
	require.Less(t, time.Since(start), 3*time.Second)
	slow.SetLatency(0)
}
