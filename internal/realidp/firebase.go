package realidp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/internal/freeport"
)

// FirebaseToolsVersion is the firebase-tools release whose Auth emulator
// the e2e tests run: Google's own emulator of Firebase Authentication.
const FirebaseToolsVersion = "15.34.2"

// FirebaseProject is the project the emulator serves: a demo- project,
// which never reaches Google.
const FirebaseProject = "demo-resetq"

// firebaseStartTimeout bounds the emulator's start: about 12 s here, more
// on a busy machine.
const firebaseStartTimeout = 2 * time.Minute

// FetchFirebaseTools returns the path of the firebase command:
// $RESETQ_FIREBASE_BIN when set, else the one in
// <CacheDir>/firebase-tools/<FirebaseToolsVersion>, installed from the npm
// registry on first use (about 4 minutes and 300 MB; it compiles re2).
func FetchFirebaseTools(ctx context.Context) (string, error) {
	return npmPackage(ctx, "firebase-tools", FirebaseToolsVersion, "RESETQ_FIREBASE_BIN", filepath.Join("node_modules", ".bin", "firebase"))
}

// FirebaseAuth is a running Firebase Auth emulator.
type FirebaseAuth struct {
	proc   *process
	dir    string
	url    string
	client *http.Client
}

// StartFirebaseAuth installs firebase-tools if needed and starts its Auth
// emulator for FirebaseProject on free loopback ports (the emulator's,
// and the hub's and logging's it reserves beside it), with HOME in its own
// folder. It returns once the emulator answers.
func StartFirebaseAuth(ctx context.Context) (*FirebaseAuth, error) {
	bin, err := FetchFirebaseTools(ctx)
	if err != nil {
		return nil, err
	}
	return startOnFreePorts("firebase", 3, func(dir string, attempt int, ports []int) (*FirebaseAuth, error) {
		return startFirebaseOnce(ctx, bin, dir, attempt, ports)
	})
}

func startFirebaseOnce(ctx context.Context, bin, dir string, attempt int, ports []int) (*FirebaseAuth, error) {
	f := &FirebaseAuth{dir: dir, url: "http://127.0.0.1:" + strconv.Itoa(ports[0]), client: &http.Client{Timeout: 15 * time.Second}}
	conf, _ := json.Marshal(map[string]any{"emulators": map[string]any{
		"auth":              map[string]any{"host": "127.0.0.1", "port": ports[0]},
		"hub":               map[string]any{"host": "127.0.0.1", "port": ports[1]},
		"logging":           map[string]any{"host": "127.0.0.1", "port": ports[2]},
		"ui":                map[string]any{"enabled": false},
		"singleProjectMode": false,
	}})
	if err := os.WriteFile(filepath.Join(dir, "firebase.json"), conf, 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("firebase-%d.log", attempt))
	// HOME keeps its config store out of the user's; the CLI does not
	// phone home for tips or updates.
	env := []string{"HOME=" + dir, "FIREBASE_CLI_EXPERIMENTS=", "NO_UPDATE_NOTIFIER=1", "CI=true"}
	proc, err := startProcess("firebase", logPath, env, bin, "emulators:start", "--only", "auth", "--project", FirebaseProject,
		"--config", filepath.Join(dir, "firebase.json"))
	if err != nil {
		return nil, err
	}
	f.proc = proc
	if err := proc.waitReady(ctx, firebaseStartTimeout, f.ready); err != nil {
		proc.stop()
		if strings.Contains(proc.logTail(200), "taken") || strings.Contains(proc.logTail(200), "EADDRINUSE") {
			return nil, fmt.Errorf("attempt %d, ports %v: %w: %w", attempt, ports, freeport.ErrTaken, err)
		}
		return nil, err
	}
	return f, nil
}

func (f *FirebaseAuth) ready(ctx context.Context) error {
	return httpReady(ctx, f.client, f.url+"/emulator/v1/projects/"+FirebaseProject+"/config")
}

// URL is the emulator's root; the Identity Toolkit API is under
// /identitytoolkit.googleapis.com.
func (f *FirebaseAuth) URL() string { return f.url }

// BaseURL is a provider's base_url for the emulator.
func (f *FirebaseAuth) BaseURL() string { return f.url + "/identitytoolkit.googleapis.com" }

// LogTail returns the last n lines of the emulator's log.
func (f *FirebaseAuth) LogTail(n int) string { return f.proc.logTail(n) }

// Stop stops the emulator and removes its folder.
func (f *FirebaseAuth) Stop() {
	f.proc.stop()
	os.RemoveAll(f.dir)
}

// Do makes a call to the emulator as its admin (the bearer "owner") and
// returns the status and body.
func (f *FirebaseAuth) Do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer owner")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := f.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var out bytes.Buffer
	_, err = out.ReadFrom(res.Body)
	return res.StatusCode, out.Bytes(), err
}
