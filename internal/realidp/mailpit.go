package realidp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/resetq/resetq/internal/freeport"
)

// MailpitVersion is the Mailpit release BuildMailpit builds. The facts in
// this file's comments were read from its source and checked against it
// running.
const MailpitVersion = "v1.33.1"

// mailpitModule is what `go install` builds.
const mailpitModule = "github.com/axllent/mailpit"

// BuildMailpit returns the path of a Mailpit binary: $RESETQ_MAILPIT_BIN
// when set, else <CacheDir>/mailpit/<MailpitVersion>/mailpit, built with
// `go install` through the Go module proxy on first use (about two minutes
// cold).
func BuildMailpit(ctx context.Context) (string, error) {
	return cachedBinary(ctx, "mailpit", MailpitVersion, "RESETQ_MAILPIT_BIN", func(ctx context.Context, work string) (string, error) {
		goBin, err := exec.LookPath("go")
		if err != nil {
			return "", fmt.Errorf("the go command is needed on PATH (or set RESETQ_MAILPIT_BIN): %w", err)
		}
		out := &copyTail{}
		cmd := exec.CommandContext(ctx, goBin, "install", mailpitModule+"@"+MailpitVersion)
		cmd.Dir = work // outside this module, so its go.mod plays no part
		cmd.Env = append(os.Environ(), "GOBIN="+work)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go install %s@%s: %w\n%s", mailpitModule, MailpitVersion, err, out)
		}
		return filepath.Join(work, "mailpit"), nil
	})
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// MailpitConfig chooses how StartMailpit runs Mailpit. The zero value is a
// plain SMTP sink on loopback, with no authentication and no faults.
type MailpitConfig struct {
	// Chaos turns on Mailpit's fault injection (--enable-chaos), which
	// SetChaos then drives. Off, SetChaos fails.
	Chaos bool
	// AcceptAnyAuth advertises AUTH PLAIN and LOGIN over plain SMTP and
	// accepts any user and password (--smtp-auth-accept-any
	// --smtp-auth-allow-insecure). Off, Mailpit advertises no AUTH, and a
	// client configured to authenticate (a realm with smtpServer.auth=true)
	// fails to send. Chaos's Authentication trigger needs it.
	AcceptAnyAuth bool
}

// Mailpit is a running Mailpit: a real SMTP server that stores every
// message it accepts, and an HTTP API to read them. It listens on loopback
// only and keeps its database in a temporary folder that Stop removes.
//
// Storage is synchronous: Mailpit commits the message to its database
// before it answers 250 to the end of DATA (smtpd → SaveToDatabase →
// storage.Store, which commits its transaction and returns the ID that the
// 250 carries). So a message whose 250 the sender has read is already
// listed by Messages and found by Search, with no lag. Keycloak answers 204
// to execute-actions-email only after Jakarta Mail has read that 250, so a
// test can count mails right after the 204 without waiting.
type Mailpit struct {
	proc     *process
	dir      string
	smtpPort int
	httpPort int
	client   *http.Client
	stopOnce sync.Once
}

// mailpitStartTimeout bounds one start attempt. Mailpit is ready in well
// under a second; the margin is for a loaded CI machine.
const mailpitStartTimeout = 30 * time.Second

// StartMailpit builds Mailpit if needed (BuildMailpit) and starts it on two
// free loopback ports with a database of its own. It returns once the HTTP
// API answers /readyz and the SMTP port greets; a start that loses a port
// to another process is retried on new ports.
func StartMailpit(ctx context.Context, cfg MailpitConfig) (*Mailpit, error) {
	bin, err := BuildMailpit(ctx)
	if err != nil {
		return nil, err
	}
	return startOnFreePorts("mailpit", 2, func(dir string, attempt int, ports []int) (*Mailpit, error) {
		return startMailpitOnce(ctx, bin, dir, cfg, attempt, ports[0], ports[1])
	})
}

func startMailpitOnce(ctx context.Context, bin, dir string, cfg MailpitConfig, attempt, smtpPort, httpPort int) (*Mailpit, error) {
	args := []string{
		"--smtp", net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort)),
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		"--database", filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", attempt)),
		"--max", "0", // never prune: tests count every message
		"--smtp-disable-rdns",     // no DNS lookups on loopback connections
		"--disable-version-check", // no calls out to GitHub
		"--smtp-max-recipients", "1000",
	}
	if cfg.Chaos {
		args = append(args, "--enable-chaos")
	}
	if cfg.AcceptAnyAuth {
		args = append(args, "--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
	}
	logPath := filepath.Join(dir, fmt.Sprintf("mailpit-%d.log", attempt))
	proc, err := startProcess("mailpit", logPath, nil, bin, args...)
	if err != nil {
		return nil, err
	}
	m := &Mailpit{
		proc:     proc,
		dir:      dir,
		smtpPort: smtpPort,
		httpPort: httpPort,
		client:   &http.Client{Timeout: 15 * time.Second},
	}
	if err := proc.waitReady(ctx, mailpitStartTimeout, m.ready); err != nil {
		proc.stop()
		if strings.Contains(proc.logTail(200), "address already in use") {
			return nil, fmt.Errorf("attempt %d, SMTP %d, HTTP %d: %w: %w", attempt, smtpPort, httpPort, freeport.ErrTaken, err)
		}
		return nil, err
	}
	return m, nil
}

// ready checks both listeners: Mailpit starts its HTTP server in the
// background and then listens for SMTP, so one being up says nothing of
// the other.
func (m *Mailpit) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL()+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /readyz: %s: %w", resp.Status, errNotReady)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.SMTPAddr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("SMTP greeting: %w", err)
	}
	if !strings.HasPrefix(greeting, "220") {
		return fmt.Errorf("SMTP greeting %q: %w", strings.TrimSpace(greeting), errNotReady)
	}
	_, _ = io.WriteString(conn, "QUIT\r\n")
	return nil
}

// SMTPHost is the host SMTP clients connect to (always 127.0.0.1).
func (m *Mailpit) SMTPHost() string { return "127.0.0.1" }

// SMTPPort is Mailpit's SMTP port.
func (m *Mailpit) SMTPPort() int { return m.smtpPort }

// SMTPAddr is host:port of Mailpit's SMTP server.
func (m *Mailpit) SMTPAddr() string {
	return net.JoinHostPort(m.SMTPHost(), strconv.Itoa(m.smtpPort))
}

// URL is the root of Mailpit's web UI and HTTP API, with no trailing
// slash (the API is under URL()+"/api/v1").
func (m *Mailpit) URL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(m.httpPort))
}

// LogTail returns the last n lines of Mailpit's log, for a failing test to
// print. After Stop it is gone.
func (m *Mailpit) LogTail(n int) string { return m.proc.logTail(n) }

// Stop stops Mailpit and removes its database. It is safe to call more
// than once.
func (m *Mailpit) Stop() {
	m.stopOnce.Do(func() {
		m.proc.stop()
		m.client.CloseIdleConnections()
		os.RemoveAll(m.dir)
	})
}

// Address is a mail address as Mailpit reports it: the display name and
// the address, case kept as the message's header had it.
type Address struct {
	Name    string
	Address string
}

// Message is a stored message as Mailpit lists it. To comes from the
// message's To header; envelope recipients missing from the headers are
// added as Bcc by Mailpit and are not in To.
type Message struct {
	// ID is Mailpit's database ID, for Body.
	ID string
	// MessageID is the Message-ID header without its angle brackets.
	MessageID string
	Subject   string
	From      Address
	To        []Address
	// Created is when Mailpit received the message (millisecond precision).
	Created time.Time
}

// apiMessage is the part of Mailpit's MessageSummary read here.
type apiMessage struct {
	ID        string
	MessageID string
	Subject   string
	From      *Address
	To        []Address
	Created   time.Time
}

type apiMessages struct {
	MessagesCount int          `json:"messages_count"`
	Messages      []apiMessage `json:"messages"`
}

// mailpitPage is how many messages one API call asks for.
const mailpitPage = 1000

// Messages returns every stored message, newest first. It pages through
// the API; a message arriving meanwhile may or may not be included.
func (m *Mailpit) Messages(ctx context.Context) ([]Message, error) {
	return m.list(ctx, "/api/v1/messages", nil)
}

// Search returns the messages matching query in Mailpit's search syntax,
// newest first. What the syntax does, read from Mailpit's storage/search.go
// and checked against it:
//
//   - Terms are split on spaces; double quotes group words into one term
//     and are then dropped. A term prefixed with - or ! excludes.
//   - to:, from:, cc:, bcc:, reply-to: match a SUBSTRING of the JSON of
//     that header's addresses (names and addresses), with SQL LIKE:
//     to:alice@example.org also matches malice@example.org and
//     alice@example.org.uk. Use To or filter on Message.To for an exact
//     recipient.
//   - The term is lower-cased and SQLite's LIKE ignores case for ASCII
//     only: a mixed-case ASCII address is found in any case; a non-ASCII
//     letter matches only when the stored address has it in lower case.
//   - + and other punctuation match literally (% and _ are escaped); the
//     query is sent URL-encoded, so a + is not turned into a space.
//   - A term without prefix searches the subject, addresses and body text.
func (m *Mailpit) Search(ctx context.Context, query string) ([]Message, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("mailpit search: empty query (Mailpit refuses it; use Messages for all)")
	}
	return m.list(ctx, "/api/v1/search", url.Values{"query": {query}})
}

// To returns the messages whose To header holds addr exactly (the address
// compared case-insensitively, as mail systems do for the domain and most
// do for the local part), newest first.
func (m *Mailpit) To(ctx context.Context, addr string) ([]Message, error) {
	msgs, err := m.Search(ctx, `to:"`+addr+`"`)
	if err != nil {
		return nil, err
	}
	return filterTo(msgs, addr), nil
}

func filterTo(msgs []Message, addr string) []Message {
	var out []Message
	for _, msg := range msgs {
		for _, to := range msg.To {
			if strings.EqualFold(to.Address, addr) {
				out = append(out, msg)
				break
			}
		}
	}
	return out
}

func (m *Mailpit) list(ctx context.Context, path string, q url.Values) ([]Message, error) {
	if q == nil {
		q = url.Values{}
	}
	var out []Message
	seen := map[string]bool{}
	for start := 0; ; {
		q.Set("start", strconv.Itoa(start))
		q.Set("limit", strconv.Itoa(mailpitPage))
		var page apiMessages
		if err := m.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		for _, a := range page.Messages {
			if seen[a.ID] {
				continue
			}
			seen[a.ID] = true
			msg := Message{ID: a.ID, MessageID: a.MessageID, Subject: a.Subject, To: a.To, Created: a.Created}
			if a.From != nil {
				msg.From = *a.From
			}
			out = append(out, msg)
		}
		start += len(page.Messages)
		if len(page.Messages) < mailpitPage || start >= page.MessagesCount {
			return out, nil
		}
	}
}

// Body returns the text and HTML bodies of the message with the given ID
// (either may be empty).
func (m *Mailpit) Body(ctx context.Context, id string) (text, html string, err error) {
	var msg struct{ Text, HTML string }
	if err := m.do(ctx, http.MethodGet, "/api/v1/message/"+url.PathEscape(id), nil, &msg); err != nil {
		return "", "", err
	}
	return msg.Text, msg.HTML, nil
}

// DeleteAll deletes every stored message.
func (m *Mailpit) DeleteAll(ctx context.Context) error {
	return m.do(ctx, http.MethodDelete, "/api/v1/messages", struct{}{}, nil)
}

// waitForDefault bounds WaitFor when its context has no deadline.
const waitForDefault = 30 * time.Second

// WaitFor polls Search until at least n messages match query and returns
// them. ctx bounds the wait (30 s when it has no deadline); the error then
// says how many matched.
func (m *Mailpit) WaitFor(ctx context.Context, query string, n int) ([]Message, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitForDefault)
		defer cancel()
	}
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var (
		last     []Message
		searched bool
		lastErr  error
	)
	for {
		msgs, err := m.Search(ctx, query)
		switch {
		case err == nil && len(msgs) >= n:
			return msgs, nil
		case err == nil:
			last, searched, lastErr = msgs, true, nil
		case ctx.Err() == nil: // a search cut short by the deadline says nothing new
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("mailpit: waiting for %d messages matching %q: %w (last search failed: %v)", n, query, ctx.Err(), lastErr)
			}
			if !searched {
				return nil, fmt.Errorf("mailpit: waiting for %d messages matching %q: %w before a search finished", n, query, ctx.Err())
			}
			return last, fmt.Errorf("mailpit: waiting for %d messages matching %q: %d after %s: %w",
				n, query, len(last), time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-tick.C:
		}
	}
}

// Chaos is Mailpit's fault injection (PUT /api/v1/chaos; the JSON uses
// these field names). Each trigger makes Mailpit answer an SMTP error at
// one step, at random, for a share of commands: it cannot pick a sender or
// recipient by address (FaultySMTP can). A trigger left zero is off.
type Chaos struct {
	// Sender fails MAIL FROM ("<code> Chaos sender error").
	Sender ChaosTrigger
	// Recipient fails RCPT TO, per recipient ("<code> Chaos recipient
	// error").
	Recipient ChaosTrigger
	// Authentication fails AUTH ("<code> Chaos authentication error");
	// only when MailpitConfig.AcceptAnyAuth is on.
	Authentication ChaosTrigger
}

// ChaosTrigger is one fault: an SMTP reply code and how often it is given.
type ChaosTrigger struct {
	// ErrorCode is the SMTP reply, 400 to 599. Zero takes Mailpit's
	// default: 451, or 535 for Authentication.
	ErrorCode int
	// Probability is the percentage of commands that fail, 0 to 100: 100
	// fails every one, 0 turns the trigger off.
	Probability int
}

// SetChaos replaces Mailpit's chaos settings with c. It needs
// MailpitConfig.Chaos; Mailpit refuses codes outside 400–599 and
// probabilities outside 0–100, and the error carries its message.
func (m *Mailpit) SetChaos(ctx context.Context, c Chaos) error {
	return m.do(ctx, http.MethodPut, "/api/v1/chaos", c, nil)
}

// ClearChaos turns every chaos trigger off.
func (m *Mailpit) ClearChaos(ctx context.Context) error {
	return m.SetChaos(ctx, Chaos{})
}

// do sends a request to Mailpit's API with body as JSON (if not nil) and
// decodes a 200 answer into out (if not nil). Mailpit answers its errors
// with 400 and a plain-text message, which the error carries.
func (m *Mailpit) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("mailpit %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.URL()+path, rd)
	if err != nil {
		return fmt.Errorf("mailpit %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("mailpit %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("mailpit %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}
