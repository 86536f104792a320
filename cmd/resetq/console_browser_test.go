//go:build browser

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/internal/realidp"
	"github.com/resetq/resetq/producer"
)

// The console in a real browser (make browser): Playwright drives
// Debian's Chromium through testdata/console-browser.cjs against a real
// worker, Redis and the Keycloak emulator. From the console alone, an
// operator starts a campaign from a file (checked first), watches its bar
// move, pauses and resumes it; the client's secret is rotated in Keycloak
// under it, the provider halts with what to fix, a viewer sees it and
// cannot act; the operator fixes it, checks the provider, resumes it, and
// the campaign finishes with every user reset once. The screenshots of
// each page are kept in test-artifacts/console ($RESETQ_ARTIFACTS).
func TestTheConsoleInABrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	require.NoError(t, err, "the browser test needs Debian's chromium (apt-get install chromium)")
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the browser test needs node (apt-get install nodejs npm)")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	modules, err := realidp.FetchPlaywright(ctx)
	require.NoError(t, err)
	artifacts := os.Getenv("RESETQ_ARTIFACTS")
	if artifacts == "" {
		artifacts, err = filepath.Abs(filepath.Join("..", "..", "test-artifacts", "console"))
		require.NoError(t, err)
	}
	require.NoError(t, os.MkdirAll(artifacts, 0o755))

	b := setup(t, settings{users: 130, concurrency: 2, noWorker: true})
	b.cfg.HTTP.Auth = config.HTTPAuth{Username: "ops", Password: "correct-horse"}
	b.cfg.HTTP.Viewers = []config.HTTPViewer{{Name: "noc", HTTPAuth: config.HTTPAuth{Username: "noc", Password: "look-only"}}}
	w, err := startWorkerWithin(context.Background(), b.cfg, b.rdb, newLogger(b.cfg.Log, b.logs), listener.Limits{})
	require.NoError(t, err)
	t.Cleanup(w.stop)

	// The campaign: 100 users, one of them twice, two disabled and one
	// Keycloak does not know. The secret is rotated while it is paused,
	// before its end, so the halt comes with the first reset after it
	// resumes, however fast this machine is.
	users := b.sample.Emails[:100]
	rows := append(append(append([]string{}, users...), users[3]), b.sample.Disabled[:2]...)
	rows = append(rows, "nobody-here@example.com")
	file := tempFile(t, "breach-drill.csv", "email\n"+strings.Join(rows, "\n")+"\n")
	expect, err := json.Marshal(map[string]int{"rows": len(rows), "valid": len(rows), "duplicates": 1,
		"succeeded": len(users), "skipped": 4}) // the duplicate row is skipped too
	require.NoError(t, err)

	// The script's hand on Keycloak: the client's secret rotated under
	// resetq (every token it held revoked), and put back.
	ctl := http.NewServeMux()
	ctl.HandleFunc("POST /break", func(http.ResponseWriter, *http.Request) {
		b.kc.AddServiceAccount(realm, "resetq", "rotated-by-someone-else")
		b.kc.ExpireAllTokens()
	})
	ctl.HandleFunc("POST /fix", func(http.ResponseWriter, *http.Request) {
		b.kc.AddServiceAccount(realm, "resetq", testSecret)
	})
	control := httptest.NewServer(ctl)
	t.Cleanup(control.Close)

	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "console-browser.cjs"))
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_MODULES="+modules, "CHROMIUM="+chromium, "CONSOLE=http://"+w.listener.Addr,
		"OPERATOR=ops:correct-horse", "VIEWER=noc:look-only", "USERS_FILE="+file, "EXPECT="+string(expect),
		"CONTROL="+control.URL, "ARTIFACTS="+artifacts)
	out, err := cmd.CombinedOutput()
	t.Logf("the browser's run:\n%s", out)
	require.NoError(t, err, "the browser's run failed (screenshots so far: %s)", artifacts)

	// What the stores say: every user reset once, the others skipped.
	c, err := w.client.GetCampaign(context.Background(), "breach-drill")
	require.NoError(t, err)
	require.Equal(t, producer.CampaignCompleted, c.Status)
	require.Equal(t, len(users), c.Succeeded)
	require.Equal(t, 4, c.Skipped)
	require.Zero(t, c.Failed)
	require.Equal(t, len(users), b.kc.TotalResets(), "each user's mail went out once")
	for _, msg := range []string{"console: campaign file checked", "console: campaign started", "console: campaign pause",
		"console: campaign resume", "console: provider checked", "console: provider resumed"} {
		require.Contains(t, b.logs.String(), fmt.Sprintf(`"msg":%q,"by":"ops"`, msg), "logged with who did it")
	}
	for _, name := range []string{"1-campaign-checked", "4-provider-halted", "6-campaign-completed", "9-queues"} {
		fi, err := os.Stat(filepath.Join(artifacts, name+".png"))
		require.NoError(t, err)
		require.Positive(t, fi.Size())
	}
}
