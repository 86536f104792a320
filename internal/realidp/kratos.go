package realidp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/resetq/resetq/internal/freeport"
)

// KratosVersion is the Ory Kratos release BuildKratos builds: the one
// version the Go module proxy serves. The facts in this file's comments
// were read from its source and checked against it running.
const KratosVersion = "v1.3.1"

const kratosModule = "github.com/ory/kratos"

// kratosStartTimeout bounds migrating the database and serving: about
// 15 s and 2 s here.
const kratosStartTimeout = 2 * time.Minute

// BuildKratos returns the path of a Kratos binary: $RESETQ_KRATOS_BIN when
// set, else <CacheDir>/kratos/<KratosVersion>/kratos, built on first use.
//
// `go install` refuses Kratos (its go.mod has replace directives), so the
// module is downloaded through the proxy, copied out of the module cache
// and built with `-tags sqlite` (cgo). Its go.mod replaces
// github.com/ory/client-go with a folder the module zip leaves out (a
// nested module); the build uses the published module of the same version
// instead, which the proxy serves. A cold build takes about 15 minutes on
// two cores. A file lock keeps parallel test processes from building it
// twice.
func BuildKratos(ctx context.Context) (string, error) {
	return cachedBinary(ctx, "kratos", KratosVersion, "RESETQ_KRATOS_BIN", buildKratos)
}

func buildKratos(ctx context.Context, work string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed on PATH (or set RESETQ_KRATOS_BIN): %w", err)
	}
	run := func(dir string, args ...string) ([]byte, error) {
		var stdout bytes.Buffer
		stderr := &copyTail{}
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=-mod=mod")
		cmd.Stdout, cmd.Stderr = &stdout, stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr)
		}
		return stdout.Bytes(), nil
	}
	// Download outside this module, so its go.mod plays no part.
	out, err := run(work, "mod", "download", "-json", kratosModule+"@"+KratosVersion)
	if err != nil {
		return "", err
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download said %q", out)
	}
	src := filepath.Join(work, "src")
	if err := copyTree(mod.Dir, src); err != nil {
		return "", fmt.Errorf("copying the module: %w", err)
	}
	if _, err := run(src, "mod", "edit", "-dropreplace", "github.com/ory/client-go"); err != nil {
		return "", err
	}
	bin := filepath.Join(work, "kratos")
	if _, err := run(src, "build", "-tags", "sqlite", "-o", bin, "."); err != nil {
		return "", err
	}
	return bin, nil
}

// copyTree copies a read-only module folder into a writable one.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// KratosConfig is how a test Kratos is set up.
type KratosConfig struct {
	// SMTPURL is the courier's connection URI, e.g. Mailpit's
	// smtp://127.0.0.1:P/?disable_starttls=true. Required.
	SMTPURL string
	// Method is the recovery method its pages use
	// (selfservice.flows.recovery.use): "code" (the default, as in
	// Kratos) or "link".
	Method string
	// LinkEnabled enables the link method beside code (Kratos' default
	// leaves it off); a "link" Method enables it and disables code.
	LinkEnabled bool
	// FlowInCodeMail replaces the recovery code mail's template with one
	// that also carries the flow the code belongs to, from the transient
	// payload resetq sends (flow_id): what an operator does to make codes
	// usable.
	FlowInCodeMail bool
	// NotifyUnknown mails a "someone asked to recover an account" message
	// to addresses no identity has (Kratos' notify_unknown_recipients).
	NotifyUnknown bool
}

// codeTemplate is the courier setting for the recovery code mail: the
// stock template, or one that also names the flow.
func codeTemplate(withFlow bool) string {
	if !withFlow {
		return ""
	}
	body := "Hi,\n\nenter this code: {{ .RecoveryCode }}\nin recovery flow: {{ .TransientPayload.flow_id }}\n"
	return "  templates:\n    recovery_code:\n      valid:\n        email:\n          body:\n            plaintext: base64://" +
		base64.StdEncoding.EncodeToString([]byte(body)) + "\n"
}

// Kratos is a running Kratos: its public and admin APIs on loopback, a
// SQLite database of its own and the courier sending mail.
type Kratos struct {
	proc              *process
	dir               string
	publicURL         string
	adminURL          string
	client            *http.Client
	publicPort, admin int
}

// kratosIdentitySchema is the identity schema: one email trait that is the
// password identifier, the recovery address and the verification address.
const kratosIdentitySchema = `{
  "$id": "https://resetq.test/schemas/user.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "User",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "title": "E-Mail",
          "ory.sh/kratos": {
            "credentials": {"password": {"identifier": true}, "code": {"identifier": true, "via": "email"}},
            "recovery": {"via": "email"},
            "verification": {"via": "email"}
          }
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}
`

// StartKratos builds Kratos if needed (BuildKratos), writes its
// configuration, migrates a fresh SQLite database and serves the public
// and admin APIs on two free loopback ports with the courier running
// (--watch-courier). It returns once both APIs answer /health/ready.
func StartKratos(ctx context.Context, cfg KratosConfig) (*Kratos, error) {
	if cfg.SMTPURL == "" {
		return nil, fmt.Errorf("kratos: SMTPURL is required")
	}
	if cfg.Method == "" {
		cfg.Method = "code"
	}
	if cfg.Method != "code" && cfg.Method != "link" {
		return nil, fmt.Errorf("kratos: method must be code or link, not %q", cfg.Method)
	}
	bin, err := BuildKratos(ctx)
	if err != nil {
		return nil, err
	}
	return startOnFreePorts("kratos", 2, func(dir string, attempt int, ports []int) (*Kratos, error) {
		return startKratosOnce(ctx, bin, dir, cfg, attempt, ports[0], ports[1])
	})
}

func startKratosOnce(ctx context.Context, bin, dir string, cfg KratosConfig, attempt, publicPort, adminPort int) (*Kratos, error) {
	k := &Kratos{
		dir:        dir,
		publicURL:  "http://127.0.0.1:" + strconv.Itoa(publicPort),
		adminURL:   "http://127.0.0.1:" + strconv.Itoa(adminPort),
		client:     &http.Client{Timeout: 15 * time.Second},
		publicPort: publicPort,
		admin:      adminPort,
	}
	schema := filepath.Join(dir, "identity.schema.json")
	if err := os.WriteFile(schema, []byte(kratosIdentitySchema), 0o644); err != nil {
		return nil, err
	}
	dsn := "sqlite://" + filepath.Join(dir, fmt.Sprintf("kratos-%d.db", attempt)) + "?_fk=true&mode=rwc"
	conf := fmt.Sprintf(`version: %[1]s
dsn: %[2]q
serve:
  public: {base_url: %[3]q, host: 127.0.0.1, port: %[4]d}
  admin: {base_url: %[5]q, host: 127.0.0.1, port: %[6]d}
selfservice:
  default_browser_return_url: http://127.0.0.1/
  allowed_return_urls: [http://127.0.0.1/]
  methods:
    password: {enabled: true}
    code: {enabled: %[11]t}
    link: {enabled: %[12]t}
  flows:
    recovery:
      enabled: true
      use: %[7]s
      lifespan: 15m
      notify_unknown_recipients: %[8]t
    verification: {enabled: false}
identity:
  default_schema_id: user
  schemas:
    - {id: user, url: %[9]q}
courier:
  smtp:
    connection_uri: %[10]q
    from_address: no-reply@resetq.test
%[13]s
secrets:
  cookie: [resetq-test-cookie-secret-0123456789]
  cipher: [resetq-cipher-secret-0123456789a]
log: {level: info, format: text}
`, KratosVersion, dsn, k.publicURL+"/", publicPort, k.adminURL+"/", adminPort, cfg.Method, cfg.NotifyUnknown,
		"file://"+schema, cfg.SMTPURL, cfg.Method == "code", cfg.Method == "link" || cfg.LinkEnabled, codeTemplate(cfg.FlowInCodeMail))
	confPath := filepath.Join(dir, fmt.Sprintf("kratos-%d.yml", attempt))
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("kratos-%d.log", attempt))
	migrate := exec.CommandContext(ctx, bin, "migrate", "sql", "-e", "--yes", "-c", confPath)
	migrate.Env = append(os.Environ(), "DSN="+dsn)
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kratos migrate sql: %w\n%s", err, tail(out, 40))
	}
	proc, err := startProcess("kratos", logPath, []string{"DSN=" + dsn}, bin, "serve", "-c", confPath, "--watch-courier", "--dev", "--sqa-opt-out")
	if err != nil {
		return nil, err
	}
	k.proc = proc
	if err := proc.waitReady(ctx, kratosStartTimeout, k.ready); err != nil {
		proc.stop()
		if strings.Contains(proc.logTail(200), "address already in use") {
			return nil, fmt.Errorf("attempt %d, public %d, admin %d: %w: %w", attempt, publicPort, adminPort, freeport.ErrTaken, err)
		}
		return nil, err
	}
	return k, nil
}

func (k *Kratos) ready(ctx context.Context) error {
	for _, u := range []string{k.publicURL + "/health/ready", k.adminURL + "/admin/health/ready"} {
		if err := httpReady(ctx, k.client, u); err != nil {
			return err
		}
	}
	return nil
}

// PublicURL is the public API's root, without a trailing slash.
func (k *Kratos) PublicURL() string { return k.publicURL }

// AdminURL is the admin API's root, without a trailing slash.
func (k *Kratos) AdminURL() string { return k.adminURL }

// LogTail returns the last n lines of the server's log.
func (k *Kratos) LogTail(n int) string { return k.proc.logTail(n) }

// Stop stops the server and removes its folder.
func (k *Kratos) Stop() {
	k.proc.stop()
	os.RemoveAll(k.dir)
}

// KratosIdentity is the part of an identity the tests use.
type KratosIdentity struct {
	ID     string `json:"id"`
	State  string `json:"state,omitempty"`
	Traits struct {
		Email string `json:"email"`
	} `json:"traits"`
}

// CreateIdentity creates an identity with the email trait (and so that
// recovery address) through the admin API.
func (k *Kratos) CreateIdentity(ctx context.Context, email string) (*KratosIdentity, error) {
	var out KratosIdentity
	body := map[string]any{"schema_id": "user", "traits": map[string]string{"email": email}}
	if err := k.adminCall(ctx, http.MethodPost, "/admin/identities", body, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// KratosMessage is a message of the courier's queue.
type KratosMessage struct {
	ID         string `json:"id"`
	Status     string `json:"status"` // queued, sent, processing, abandoned
	Recipient  string `json:"recipient"`
	TemplateID string `json:"template_type"`
}

// CourierMessages lists the courier's messages, newest first.
func (k *Kratos) CourierMessages(ctx context.Context) ([]KratosMessage, error) {
	var out []KratosMessage
	if err := k.adminCall(ctx, http.MethodGet, "/admin/courier/messages?page_size=1000", nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

func (k *Kratos) adminCall(ctx context.Context, method, path string, body, out any, want int) error {
	status, b, err := k.Do(ctx, k.adminURL+path, method, body)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("Kratos admin API: %s %s: %d %s: %s", method, path, status, http.StatusText(status), excerpt(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Do sends body (nil for none) as JSON to url and returns the answer's
// status and body, whatever the status.
func (k *Kratos) Do(ctx context.Context, url, method string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

// Recovery is what a user does on the "forgot password" page: it starts a
// recovery flow of its own and submits email, and returns the flow's id
// once Kratos has answered sent_email.
func (k *Kratos) Recovery(ctx context.Context, email string) (flowID string, err error) {
	var flow struct{ ID string }
	status, b, err := k.Do(ctx, k.publicURL+"/self-service/recovery/api", http.MethodGet, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || json.Unmarshal(b, &flow) != nil {
		return "", fmt.Errorf("starting a recovery flow: %d %s", status, excerpt(b))
	}
	var sent struct{ State string }
	status, b, err = k.Do(ctx, k.publicURL+"/self-service/recovery?flow="+flow.ID, http.MethodPost,
		map[string]string{"method": "code", "email": email})
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || json.Unmarshal(b, &sent) != nil || sent.State != "sent_email" {
		return "", fmt.Errorf("submitting the address: %d %s", status, excerpt(b))
	}
	return flow.ID, nil
}

// RecoverWithCode submits the code the user received to their flow. Kratos
// signs them in and sends them on to the settings flow, where the new
// password is set: it returns that flow's URL.
func (k *Kratos) RecoverWithCode(ctx context.Context, flowID, code string) (settingsURL string, err error) {
	status, b, err := k.Do(ctx, k.publicURL+"/self-service/recovery?flow="+flowID, http.MethodPost,
		map[string]string{"method": "code", "code": code})
	if err != nil {
		return "", err
	}
	var done struct {
		Error      struct{ ID string } `json:"error"`
		RedirectTo string              `json:"redirect_browser_to"`
	}
	if status != http.StatusUnprocessableEntity || json.Unmarshal(b, &done) != nil ||
		done.Error.ID != "browser_location_change_required" || !strings.Contains(done.RedirectTo, "/settings?flow=") {
		return "", fmt.Errorf("submitting the code: %d %s", status, excerpt(b))
	}
	return done.RedirectTo, nil
}

// SetIdentityState makes an identity active or inactive.
func (k *Kratos) SetIdentityState(ctx context.Context, id, state string) error {
	patch := []map[string]any{{"op": "replace", "path": "/state", "value": state}}
	return k.adminCall(ctx, http.MethodPatch, "/admin/identities/"+id, patch, nil, http.StatusOK)
}
