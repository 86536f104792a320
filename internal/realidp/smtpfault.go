package realidp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The SMTP steps FaultySMTP.SetDelay can stall, each named after what the
// server is about to answer.
const (
	StepGreeting = "greeting" // the 220 on connect
	StepEHLO     = "ehlo"     // the answer to EHLO or HELO
	StepAuth     = "auth"     // the final answer to AUTH (235 or 535)
	StepMail     = "mail"     // the answer to MAIL FROM
	StepRcpt     = "rcpt"     // the answer to each RCPT TO
	StepData     = "data"     // the 354 to DATA, before any of the message is read
	StepDot      = "dot"      // the answer to the message's final "."
	StepQuit     = "quit"     // the 221 to QUIT
)

// Limits that keep a hostile or broken client from growing memory.
const (
	smtpCommandLimit = 4 << 10  // a command line (RFC 5321 asks for 512)
	smtpTextLimit    = 64 << 10 // a line of message text (RFC 5321 asks for 1000)
	smtpMaxSize      = 10 << 20 // a message, advertised as SIZE
	smtpMaxRcpts     = 100
	smtpIdleTimeout  = 5 * time.Minute
	smtpWriteTimeout = 30 * time.Second
	smtpRelayTimeout = 30 * time.Second
)

// Envelope is a message FaultySMTP accepted: the envelope sender (empty for
// the null sender <>) and recipients as the client gave them, and the
// message as received, dot-unstuffed, without the final ".".
type Envelope struct {
	From string
	To   []string
	Data []byte
	At   time.Time
}

// FaultySMTP is a small SMTP server of this package's own that misbehaves
// in exactly chosen ways: it stalls before a chosen answer, refuses chosen
// recipients, demands credentials or answers every MAIL FROM with an error.
// Left alone it is a well-behaved server that passes accepted mail on to a
// relay (a Mailpit, where tests count it) or keeps it in memory.
//
// It speaks the ESMTP that Jakarta Mail (inside Keycloak) uses: EHLO/HELO,
// AUTH PLAIN and LOGIN, MAIL FROM with SIZE, BODY and SMTPUTF8, RCPT TO,
// DATA, RSET, NOOP and QUIT; it offers no STARTTLS and no PIPELINING.
// It listens on 127.0.0.1 only.
//
// It is safe for concurrent use, and its settings may change while
// sessions run: each step reads them as it comes.
type FaultySMTP struct {
	ln    net.Listener
	relay string
	done  chan struct{}
	wg    sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	open        map[net.Conn]struct{} // client sessions and relay connections
	delay       func(step string) time.Duration
	refusals    []refusal
	authUser    string
	authPass    string
	failCode    int
	failText    string
	connections int
	accepted    []Envelope
}

type refusal struct {
	match func(addr string) bool
	code  int
	text  string
}

// StartFaultySMTP starts a FaultySMTP on a free loopback port. relay is
// host:port of a real SMTP server that each accepted message is passed on
// to, in the same envelope, before the client hears 250; "" keeps accepted
// mail in memory only. Accepted lists it either way.
func StartFaultySMTP(relay string) (*FaultySMTP, error) {
	if relay != "" {
		if _, _, err := net.SplitHostPort(relay); err != nil {
			return nil, fmt.Errorf("faulty SMTP: relay %q is not host:port: %w", relay, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faulty SMTP: %w", err)
	}
	s := &FaultySMTP{ln: ln, relay: relay, done: make(chan struct{}), open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Host is the host to connect to (always 127.0.0.1).
func (s *FaultySMTP) Host() string { return "127.0.0.1" }

// Port is the port it listens on.
func (s *FaultySMTP) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Addr is host:port to connect to.
func (s *FaultySMTP) Addr() string { return s.ln.Addr().String() }

// Close stops listening, ends every open session (a stalled one too) and
// waits for all of its goroutines. It is safe to call more than once.
func (s *FaultySMTP) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	conns := make([]net.Conn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("faulty SMTP %s: %w", s.Addr(), err)
	}
	return nil
}

// SetDelay makes the server wait d(step) before it answers step (one of
// the Step constants; called for every step of every session, from the
// sessions' goroutines, so d must be safe for concurrent use). A
// non-positive duration answers at once; nil turns delays off. Close cuts
// a wait short.
//
// At StepDot the message has already been accepted (relayed and recorded)
// when the wait begins: this is a relay that queues the mail and is then
// slow to say so, which a client that gives up reads as a failure although
// the mail is delivered. To stall with the mail not accepted, delay
// StepData.
func (s *FaultySMTP) SetDelay(d func(step string) time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// RefuseRecipient makes RCPT TO answer code and text for each address
// match returns true for (e.g. 550, "5.1.1 mailbox unavailable"). Rules
// add up, the first added that matches wins; a nil match removes them all.
// code must be 400–599.
func (s *FaultySMTP) RefuseRecipient(match func(addr string) bool, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if match == nil {
		s.refusals = nil
		return
	}
	mustErrorCode("RefuseRecipient", code)
	s.refusals = append(s.refusals, refusal{match: match, code: code, text: text})
}

// RequireAuth advertises AUTH PLAIN LOGIN and answers MAIL FROM with 530
// until the client has authenticated as user with password; other
// credentials get 535 5.7.8. An empty user turns the requirement off.
func (s *FaultySMTP) RequireAuth(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authUser, s.authPass = user, password
}

// FailAll answers every MAIL FROM with code and text (e.g. 451 "4.7.1 try
// again later", or 421, which also closes the connection as RFC 5321
// says): a relay that throttles or is down. Code 0 turns it off; any other
// code must be 400–599.
func (s *FaultySMTP) FailAll(code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code != 0 {
		mustErrorCode("FailAll", code)
	}
	s.failCode, s.failText = code, text
}

func mustErrorCode(knob string, code int) {
	if code < 400 || code > 599 {
		panic(fmt.Sprintf("FaultySMTP.%s: code %d is not an SMTP error (400–599)", knob, code))
	}
}

// Connections is how many connections the server has accepted.
func (s *FaultySMTP) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// Accepted returns a copy of the messages accepted so far, oldest first.
// A message whose relaying failed is not among them.
func (s *FaultySMTP) Accepted() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Envelope, len(s.accepted))
	for i, e := range s.accepted {
		out[i] = Envelope{From: e.From, To: append([]string(nil), e.To...), Data: bytes.Clone(e.Data), At: e.At}
	}
	return out
}

func (s *FaultySMTP) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed; a loopback listener has no other errors worth retrying
		}
		if !s.track(conn) {
			_ = conn.Close()
			return
		}
		s.mu.Lock()
		s.connections++
		s.mu.Unlock()
		go s.serve(conn)
	}
}

// track registers conn so Close can end it, and counts it in the wait
// group; it reports false once Close has begun.
func (s *FaultySMTP) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.open[conn] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *FaultySMTP) untrack(conn net.Conn) {
	_ = conn.Close()
	s.mu.Lock()
	delete(s.open, conn)
	s.mu.Unlock()
	s.wg.Done()
}

// wait sleeps the delay configured for step and reports false if Close
// cut it short.
func (s *FaultySMTP) wait(step string) bool {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d == nil {
		return true
	}
	dur := d(step)
	if dur <= 0 {
		return true
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

func (s *FaultySMTP) authConfig() (user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authUser, s.authPass
}

func (s *FaultySMTP) failure() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failCode, s.failText
}

func (s *FaultySMTP) refusalFor(addr string) (refusal, bool) {
	s.mu.Lock()
	rules := s.refusals
	s.mu.Unlock()
	for _, r := range rules {
		if r.match(addr) {
			return r, true
		}
	}
	return refusal{}, false
}

func (s *FaultySMTP) record(e Envelope) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted = append(s.accepted, e)
	return len(s.accepted)
}

// session is one client connection.
type session struct {
	s    *FaultySMTP
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer

	greeted bool
	authed  bool
	hasFrom bool
	from    string
	utf8    bool
	to      []string
}

var errLineTooLong = errors.New("line too long")

func (s *FaultySMTP) serve(conn net.Conn) {
	defer s.untrack(conn)
	ss := &session{s: s, conn: conn, r: bufio.NewReaderSize(conn, 4096), w: bufio.NewWriter(conn)}
	if !s.wait(StepGreeting) || !ss.reply("220 faultysmtp.localhost ESMTP resetq FaultySMTP") {
		return
	}
	for {
		line, err := ss.readLine(smtpCommandLimit)
		if errors.Is(err, errLineTooLong) {
			if !ss.reply("500 5.5.2 Line too long") {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
		arg = strings.TrimSpace(arg)
		var ok bool
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ok = ss.hello(strings.ToUpper(verb) == "EHLO", arg)
		case "AUTH":
			ok = ss.auth(arg)
		case "MAIL":
			ok = ss.mail(arg)
		case "RCPT":
			ok = ss.rcpt(arg)
		case "DATA":
			ok = ss.data(arg)
		case "RSET":
			ss.reset()
			ok = ss.reply("250 2.0.0 Ok")
		case "NOOP":
			ok = ss.reply("250 2.0.0 Ok")
		case "QUIT":
			if s.wait(StepQuit) {
				ss.reply("221 2.0.0 Bye")
			}
			return
		case "VRFY", "EXPN", "HELP", "STARTTLS", "BDAT", "ETRN", "TURN", "ATRN":
			ok = ss.reply("502 5.5.1 Command not implemented")
		default:
			ok = ss.reply("500 5.5.2 Command not recognized")
		}
		if !ok {
			return
		}
	}
}

// readLine reads one line with its line ending. A line longer than limit
// is read to its end and thrown away, so memory stays bounded, and
// reported as errLineTooLong.
func (ss *session) readLine(limit int) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		_ = ss.conn.SetReadDeadline(time.Now().Add(smtpIdleTimeout))
		frag, err := ss.r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > limit {
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	if tooLong {
		return nil, errLineTooLong
	}
	return line, nil
}

// reply writes lines as one reply (the caller writes the continuation
// dashes) and reports whether the client can still be written to.
func (ss *session) reply(lines ...string) bool {
	_ = ss.conn.SetWriteDeadline(time.Now().Add(smtpWriteTimeout))
	for _, l := range lines {
		ss.w.WriteString(l)
		ss.w.WriteString("\r\n")
	}
	return ss.w.Flush() == nil
}

// replyCode writes one reply with a code and text chosen by a test.
func (ss *session) replyCode(code int, text, fallback string) bool {
	if text == "" {
		text = fallback
	}
	text = strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
	return ss.reply(strconv.Itoa(code) + " " + text)
}

func (ss *session) reset() {
	ss.hasFrom, ss.from, ss.utf8, ss.to = false, "", false, nil
}

func (ss *session) hello(extended bool, domain string) bool {
	if domain == "" {
		return ss.reply("501 5.5.4 Syntax: EHLO domain")
	}
	if !ss.s.wait(StepEHLO) {
		return false
	}
	ss.reset()
	ss.greeted = true
	if !extended {
		return ss.reply("250 faultysmtp.localhost greets " + domain)
	}
	lines := []string{
		"250-faultysmtp.localhost greets " + domain,
		"250-8BITMIME",
		"250-SMTPUTF8",
		"250-SIZE " + strconv.Itoa(smtpMaxSize),
	}
	if user, _ := ss.s.authConfig(); user != "" {
		lines = append(lines, "250-AUTH PLAIN LOGIN")
	}
	lines = append(lines, "250 ENHANCEDSTATUSCODES")
	return ss.reply(lines...)
}

func (ss *session) auth(arg string) bool {
	user, pass := ss.s.authConfig()
	switch {
	case user == "":
		return ss.reply("502 5.5.1 AUTH not available")
	case !ss.greeted:
		return ss.reply("503 5.5.1 Send EHLO first")
	case ss.authed:
		return ss.reply("503 5.5.1 Already authenticated")
	case ss.hasFrom:
		return ss.reply("503 5.5.1 AUTH not allowed during a mail transaction")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	var gotUser, gotPass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		resp, ok, alive := ss.authResponse(initial, "")
		if !ok {
			return alive
		}
		// authzid NUL authcid NUL passwd (RFC 4616)
		parts := strings.Split(resp, "\x00")
		if len(parts) != 3 {
			return ss.reply("501 5.5.2 Malformed PLAIN response")
		}
		gotUser, gotPass = parts[1], parts[2]
	case "LOGIN":
		u, ok, alive := ss.authResponse(initial, "VXNlcm5hbWU6") // "Username:"
		if !ok {
			return alive
		}
		p, ok, alive := ss.authResponse("", "UGFzc3dvcmQ6") // "Password:"
		if !ok {
			return alive
		}
		gotUser, gotPass = u, p
	default:
		return ss.reply("504 5.5.4 Unrecognized authentication type")
	}
	if !ss.s.wait(StepAuth) {
		return false
	}
	if gotUser != user || gotPass != pass {
		return ss.reply("535 5.7.8 Authentication credentials invalid")
	}
	ss.authed = true
	return ss.reply("235 2.7.0 Authentication successful")
}

// authResponse returns the decoded client response: initial when the
// client sent one with the command, else what it answers to a 334 with
// challenge. ok is false when the exchange ended (answered already, or
// the client is gone: alive then says which).
func (ss *session) authResponse(initial, challenge string) (resp string, ok, alive bool) {
	if initial == "" {
		if !ss.reply("334 " + challenge) {
			return "", false, false
		}
		line, err := ss.readLine(smtpCommandLimit)
		if errors.Is(err, errLineTooLong) {
			return "", false, ss.reply("500 5.5.2 Line too long")
		}
		if err != nil {
			return "", false, false
		}
		initial = strings.TrimSpace(string(line))
		if initial == "*" {
			return "", false, ss.reply("501 5.7.0 Authentication cancelled")
		}
	}
	if initial == "=" { // an empty initial response (RFC 4954)
		return "", true, true
	}
	b, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return "", false, ss.reply("501 5.5.2 Cannot decode the response")
	}
	return string(b), true, true
}

func (ss *session) mail(arg string) bool {
	user, _ := ss.s.authConfig()
	switch {
	case !ss.greeted:
		return ss.reply("503 5.5.1 Send EHLO or HELO first")
	case user != "" && !ss.authed:
		return ss.reply("530 5.7.0 Authentication required")
	case ss.hasFrom:
		return ss.reply("503 5.5.1 Nested MAIL command")
	}
	addr, params, ok := parsePath(arg, "FROM:")
	if !ok {
		return ss.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
	}
	utf8Mail := false
	// Parameters of extensions this server does not offer are ignored: it
	// is here to fail on purpose, not by surprise.
	for _, p := range params {
		key, val, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "SMTPUTF8":
			utf8Mail = true
		case "BODY":
			if v := strings.ToUpper(val); v != "7BIT" && v != "8BITMIME" {
				return ss.reply("501 5.5.4 BODY must be 7BIT or 8BITMIME")
			}
		case "SIZE":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return ss.reply("501 5.5.4 Malformed SIZE")
			}
			if n > smtpMaxSize {
				return ss.reply("552 5.3.4 Message size exceeds fixed limit")
			}
		}
	}
	if !utf8Mail && !isASCII(addr) {
		return ss.reply("553 5.6.7 Non-ASCII address needs SMTPUTF8")
	}
	if !ss.s.wait(StepMail) {
		return false
	}
	if code, text := ss.s.failure(); code != 0 {
		if !ss.replyCode(code, text, "4.3.2 Service not available") {
			return false
		}
		return code != 421 // 421 means the server closes the channel
	}
	ss.hasFrom, ss.from, ss.utf8, ss.to = true, addr, utf8Mail, nil
	return ss.reply("250 2.1.0 Ok")
}

func (ss *session) rcpt(arg string) bool {
	if !ss.hasFrom {
		return ss.reply("503 5.5.1 Send MAIL first")
	}
	addr, _, ok := parsePath(arg, "TO:")
	if !ok || addr == "" {
		return ss.reply("501 5.5.4 Syntax: RCPT TO:<address>")
	}
	if !ss.utf8 && !isASCII(addr) {
		return ss.reply("553 5.6.7 Non-ASCII address needs SMTPUTF8")
	}
	if len(ss.to) >= smtpMaxRcpts {
		return ss.reply("452 4.5.3 Too many recipients")
	}
	if !ss.s.wait(StepRcpt) {
		return false
	}
	if r, refused := ss.s.refusalFor(addr); refused {
		return ss.replyCode(r.code, r.text, "5.1.1 Recipient refused")
	}
	ss.to = append(ss.to, addr)
	return ss.reply("250 2.1.5 Ok")
}

func (ss *session) data(arg string) bool {
	switch {
	case arg != "":
		return ss.reply("501 5.5.4 DATA takes no parameters")
	case !ss.hasFrom:
		return ss.reply("503 5.5.1 Send MAIL first")
	case len(ss.to) == 0:
		return ss.reply("554 5.5.1 No valid recipients")
	}
	if !ss.s.wait(StepData) || !ss.reply("354 End data with <CR><LF>.<CR><LF>") {
		return false
	}
	var msg []byte
	tooBig := false
	for {
		line, err := ss.readLine(smtpTextLimit)
		if errors.Is(err, errLineTooLong) {
			tooBig = true
			continue
		}
		if err != nil {
			return false
		}
		if string(line) == ".\r\n" || string(line) == ".\n" {
			break
		}
		if line[0] == '.' {
			line = line[1:]
		}
		if len(msg)+len(line) > smtpMaxSize {
			tooBig = true
		}
		if !tooBig {
			msg = append(msg, line...)
		}
	}
	from, to := ss.from, ss.to
	ss.reset()
	if tooBig {
		return ss.reply("552 5.3.4 Message too big or a line too long")
	}
	if ss.s.relay != "" {
		if err := ss.s.relayMail(from, to, msg); err != nil {
			if !ss.s.wait(StepDot) {
				return false
			}
			return ss.replyCode(451, "4.4.0 Relaying to "+ss.s.relay+" failed: "+err.Error(), "")
		}
	}
	n := ss.s.record(Envelope{From: from, To: to, Data: msg, At: time.Now()})
	if !ss.s.wait(StepDot) {
		return false
	}
	return ss.reply("250 2.0.0 Ok: queued as " + strconv.Itoa(n))
}

// relayMail passes one message on to the relay with net/smtp, in the
// same envelope. net/smtp adds SMTPUTF8 to MAIL FROM when the relay
// offers it and checks addresses for nothing but line breaks, so UTF-8
// addresses pass through.
func (s *FaultySMTP) relayMail(from string, to []string, msg []byte) error {
	conn, err := net.DialTimeout("tcp", s.relay, 10*time.Second)
	if err != nil {
		return err
	}
	if !s.track(conn) { // Close has begun
		_ = conn.Close()
		return errors.New("server closing")
	}
	defer s.untrack(conn)
	_ = conn.SetDeadline(time.Now().Add(smtpRelayTimeout))
	host, _, _ := net.SplitHostPort(s.relay)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return relayStepError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello("faultysmtp.localhost"); err != nil {
		return relayStepError("EHLO", err)
	}
	if err := c.Mail(from); err != nil {
		return relayStepError("MAIL FROM:<"+from+">", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return relayStepError("RCPT TO:<"+rcpt+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return relayStepError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return relayStepError("message", err)
	}
	if err := w.Close(); err != nil {
		return relayStepError("end of DATA", err)
	}
	if err := c.Quit(); err != nil {
		return relayStepError("QUIT", err)
	}
	return nil
}

// relayStepError names the step and gives the relay's reply as it came
// (textproto.Error would quote its text).
func relayStepError(step string, err error) error {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		return fmt.Errorf("%s: %d %s", step, tpErr.Code, tpErr.Msg)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// parsePath parses `FROM:<addr> PARAM=V ...` (prefix "FROM:" or "TO:",
// case-insensitive, a space after the colon tolerated).
func parsePath(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	addr = rest[1:end]
	if strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", nil, false
	}
	return addr, strings.Fields(rest[end+1:]), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
