package realidp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// startFaulty starts a FaultySMTP closed at the test's end.
func startFaulty(t *testing.T, relay string) *FaultySMTP {
	t.Helper()
	s, err := StartFaultySMTP(relay)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// dialSMTP opens a net/smtp client and says EHLO.
func dialSMTP(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Hello("client.example.org"))
	return c
}

// rawSMTP opens a plain connection for what net/smtp cannot say, and
// reads the greeting.
func rawSMTP(t *testing.T, addr string) *textproto.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, nc.SetDeadline(time.Now().Add(30*time.Second)))
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	_, _, err = c.ReadResponse(220)
	require.NoError(t, err)
	return c
}

// exchange sends one command and returns the reply's code and text.
func exchange(t *testing.T, c *textproto.Conn, format string, args ...any) (int, string) {
	t.Helper()
	_, err := c.Cmd(format, args...)
	require.NoError(t, err)
	code, msg, err := c.ReadResponse(0)
	var tpErr *textproto.Error
	if err != nil && !errors.As(err, &tpErr) {
		require.NoError(t, err)
	}
	return code, msg
}

// requireSMTPError asserts err is the server's reply code with text.
func requireSMTPError(t *testing.T, err error, code int, text string) {
	t.Helper()
	var tpErr *textproto.Error
	require.True(t, errors.As(err, &tpErr), "want SMTP reply %d, got %v", code, err)
	require.Equal(t, code, tpErr.Code)
	if text != "" {
		require.Equal(t, text, tpErr.Msg)
	}
}

const testMessage = "From: <noreply@example.org>\r\nTo: <alice@example.org>\r\nSubject: reset\r\n\r\nline one\r\n.a line that starts with a dot\r\n..two dots\r\n"

func TestFaultySMTPAcceptsAWellFormedMail(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	before := time.Now()

	require.NoError(t, smtp.SendMail(s.Addr(), nil, "noreply@example.org", []string{"alice@example.org", "Carol+IT@Example.org"}, []byte(testMessage)))

	got := s.Accepted()
	require.Len(t, got, 1)
	require.Equal(t, "noreply@example.org", got[0].From)
	require.Equal(t, []string{"alice@example.org", "Carol+IT@Example.org"}, got[0].To, "addresses as given, case kept")
	require.Equal(t, testMessage, string(got[0].Data), "dot-unstuffed, without the final dot")
	require.False(t, got[0].At.Before(before))
	require.Equal(t, 1, s.Connections())
	require.Equal(t, "127.0.0.1", s.Host())
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", s.Port()), s.Addr())

	got[0].To[0] = "changed"
	require.Equal(t, "alice@example.org", s.Accepted()[0].To[0], "Accepted returns a copy")
}

func TestFaultySMTPAdvertisesWhatJakartaMailLooksFor(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	c := dialSMTP(t, s.Addr())
	for _, ext := range []string{"8BITMIME", "SMTPUTF8", "SIZE", "ENHANCEDSTATUSCODES"} {
		ok, _ := c.Extension(ext)
		require.True(t, ok, ext)
	}
	ok, _ := c.Extension("AUTH")
	require.False(t, ok, "no AUTH unless RequireAuth")
	ok, _ = c.Extension("STARTTLS")
	require.False(t, ok)
	_, size := c.Extension("SIZE")
	require.Equal(t, "10485760", size)
}

func TestFaultySMTPRefusesTheChosenRecipient(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	s.RefuseRecipient(func(addr string) bool { return strings.EqualFold(addr, "bob@example.org") }, 550, "5.1.1 mailbox unavailable")
	s.RefuseRecipient(func(addr string) bool { return strings.HasPrefix(addr, "b") }, 452, "4.2.2 mailbox full")

	c := dialSMTP(t, s.Addr())
	require.NoError(t, c.Mail("noreply@example.org"))
	require.NoError(t, c.Rcpt("alice@example.org"))
	requireSMTPError(t, c.Rcpt("Bob@example.org"), 550, "5.1.1 mailbox unavailable")
	requireSMTPError(t, c.Rcpt("bert@example.org"), 452, "4.2.2 mailbox full")
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, testMessage)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Quit())

	got := s.Accepted()
	require.Len(t, got, 1)
	require.Equal(t, []string{"alice@example.org"}, got[0].To)

	s.RefuseRecipient(nil, 0, "")
	require.NoError(t, smtp.SendMail(s.Addr(), nil, "noreply@example.org", []string{"bob@example.org"}, []byte(testMessage)))
}

func TestFaultySMTPChecksCredentials(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	s.RequireAuth("mailer", "s3cret")

	t.Run("advertised", func(t *testing.T) {
		c := dialSMTP(t, s.Addr())
		ok, mechs := c.Extension("AUTH")
		require.True(t, ok)
		require.Equal(t, "PLAIN LOGIN", mechs)
	})
	t.Run("MAIL before AUTH gets 530", func(t *testing.T) {
		err := smtp.SendMail(s.Addr(), nil, "noreply@example.org", []string{"alice@example.org"}, []byte(testMessage))
		requireSMTPError(t, err, 530, "5.7.0 Authentication required")
	})
	t.Run("wrong password gets 535", func(t *testing.T) {
		err := smtp.SendMail(s.Addr(), smtp.PlainAuth("", "mailer", "wrong", s.Host()), "noreply@example.org", []string{"alice@example.org"}, []byte(testMessage))
		requireSMTPError(t, err, 535, "5.7.8 Authentication credentials invalid")
	})
	t.Run("right credentials pass", func(t *testing.T) {
		err := smtp.SendMail(s.Addr(), smtp.PlainAuth("", "mailer", "s3cret", s.Host()), "noreply@example.org", []string{"alice@example.org"}, []byte(testMessage))
		require.NoError(t, err)
	})
	t.Run("PLAIN after a 334", func(t *testing.T) {
		c := rawSMTP(t, s.Addr())
		code, _ := exchange(t, c, "EHLO client.example.org")
		require.Equal(t, 250, code)
		code, _ = exchange(t, c, "AUTH PLAIN")
		require.Equal(t, 334, code)
		code, msg := exchange(t, c, "%s", b64("\x00mailer\x00s3cret"))
		require.Equal(t, 235, code, msg)
		code, _ = exchange(t, c, "MAIL FROM:<noreply@example.org>")
		require.Equal(t, 250, code)
	})
	t.Run("LOGIN", func(t *testing.T) {
		for _, tc := range []struct {
			user, pass string
			want       int
		}{{"mailer", "s3cret", 235}, {"mailer", "nope", 535}} {
			c := rawSMTP(t, s.Addr())
			code, _ := exchange(t, c, "EHLO client.example.org")
			require.Equal(t, 250, code)
			code, msg := exchange(t, c, "AUTH LOGIN")
			require.Equal(t, 334, code)
			require.Equal(t, b64("Username:"), msg)
			code, msg = exchange(t, c, "%s", b64(tc.user))
			require.Equal(t, 334, code)
			require.Equal(t, b64("Password:"), msg)
			code, _ = exchange(t, c, "%s", b64(tc.pass))
			require.Equal(t, tc.want, code)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c := rawSMTP(t, s.Addr())
		exchange(t, c, "EHLO client.example.org")
		code, _ := exchange(t, c, "AUTH LOGIN")
		require.Equal(t, 334, code)
		code, _ = exchange(t, c, "*")
		require.Equal(t, 501, code)
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestFaultySMTPFailAllAnswersEveryMailFrom(t *testing.T) {
	t.Parallel()
	for _, code := range []int{421, 451, 554} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			s := startFaulty(t, "")
			s.FailAll(code, fmt.Sprintf("%d.7.1 throttled, try later", code/100))
			err := smtp.SendMail(s.Addr(), nil, "noreply@example.org", []string{"alice@example.org"}, []byte(testMessage))
			requireSMTPError(t, err, code, fmt.Sprintf("%d.7.1 throttled, try later", code/100))
			require.Empty(t, s.Accepted())

			s.FailAll(0, "")
			require.NoError(t, smtp.SendMail(s.Addr(), nil, "noreply@example.org", []string{"alice@example.org"}, []byte(testMessage)))
		})
	}
	require.Panics(t, func() {
		s := &FaultySMTP{}
		s.FailAll(250, "ok")
	}, "a success code is not a failure")
}

func TestFaultySMTPDelaysTheChosenStep(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	for _, step := range []string{StepGreeting, StepEHLO, StepMail, StepRcpt, StepData, StepDot, StepQuit} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			s := startFaulty(t, "")
			var mu sync.Mutex
			var seen []string
			s.SetDelay(func(st string) time.Duration {
				mu.Lock()
				seen = append(seen, st)
				mu.Unlock()
				if st == step {
					return delay
				}
				return 0
			})

			// Time each step of a send on its own.
			took := map[string]time.Duration{}
			timed := func(name string, f func() error) {
				start := time.Now()
				require.NoError(t, f(), name)
				took[name] = time.Since(start)
			}
			var c *smtp.Client
			timed(StepGreeting, func() (err error) { c, err = smtp.Dial(s.Addr()); return err })
			defer c.Close()
			timed(StepEHLO, func() error { return c.Hello("client.example.org") })
			timed(StepMail, func() error { return c.Mail("noreply@example.org") })
			timed(StepRcpt, func() error { return c.Rcpt("alice@example.org") })
			var w io.WriteCloser
			timed(StepData, func() (err error) { w, err = c.Data(); return err })
			_, err := io.WriteString(w, testMessage)
			require.NoError(t, err)
			timed(StepDot, w.Close)
			timed(StepQuit, c.Quit)

			require.GreaterOrEqual(t, took[step], delay, "step %s", step)
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, []string{StepGreeting, StepEHLO, StepMail, StepRcpt, StepData, StepDot, StepQuit}, seen)
		})
	}
}

// stallAt makes s stall an hour at step. The channel it returns closes
// when a session reaches step.
func stallAt(s *FaultySMTP, step string) <-chan struct{} {
	reached := make(chan struct{})
	s.SetDelay(func(st string) time.Duration {
		if st == step {
			close(reached)
			return time.Hour
		}
		return 0
	})
	return reached
}

func TestFaultySMTPDotDelayComesAfterTheMailIsAccepted(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	inDot := stallAt(s, StepDot)
	c := dialSMTP(t, s.Addr())
	require.NoError(t, c.Mail("noreply@example.org"))
	require.NoError(t, c.Rcpt("alice@example.org"))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = io.WriteString(w, testMessage)
	require.NoError(t, err)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }() // waits for the answer that does not come
	<-inDot
	require.Len(t, s.Accepted(), 1, "recorded before the stall: a client that gives up has still sent the mail")
	require.NoError(t, s.Close())
	require.Error(t, <-closed, "Close ends the stalled session without an answer")
}

// Not parallel: goleak looks at every goroutine of the process.
func TestFaultySMTPCloseEndsAStalledSession(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := StartFaultySMTP("")
	require.NoError(t, err)
	stalled := stallAt(s, StepGreeting)
	conn, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer conn.Close()
	<-stalled

	require.NoError(t, s.Close())
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := conn.Read(make([]byte, 64))
	require.Zero(t, n, "no greeting")
	require.ErrorIs(t, err, io.EOF, "the server closed the connection")
	require.NoError(t, s.Close(), "a second Close is fine")

	_, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	require.Error(t, err, "no longer listening")
}

func TestFaultySMTPRelaysToAnotherServer(t *testing.T) {
	t.Parallel()
	back := startFaulty(t, "")
	front := startFaulty(t, back.Addr())

	to := []string{"jürgen@example.org", "carol+it@example.org"}
	require.NoError(t, smtp.SendMail(front.Addr(), nil, "noreply@example.org", to, []byte(testMessage)))

	for name, s := range map[string]*FaultySMTP{"front": front, "back": back} {
		got := s.Accepted()
		require.Len(t, got, 1, name)
		require.Equal(t, "noreply@example.org", got[0].From, name)
		require.Equal(t, to, got[0].To, name)
		require.Equal(t, testMessage, string(got[0].Data), name)
	}
}

func TestFaultySMTPAnswers451WhenRelayingFails(t *testing.T) {
	t.Parallel()
	back := startFaulty(t, "")
	back.RefuseRecipient(func(string) bool { return true }, 550, "5.1.1 no such user")
	front := startFaulty(t, back.Addr())

	err := smtp.SendMail(front.Addr(), nil, "noreply@example.org", []string{"alice@example.org"}, []byte(testMessage))
	requireSMTPError(t, err, 451, "")
	require.ErrorContains(t, err, "5.1.1 no such user")
	require.ErrorContains(t, err, back.Addr())
	require.Empty(t, front.Accepted())
	require.Empty(t, back.Accepted())

	// A relay that hangs up before its greeting.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var hangups sync.WaitGroup
	hangups.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	t.Cleanup(func() { l.Close(); hangups.Wait() })
	gone := l.Addr().String()
	nowhere := startFaulty(t, gone)
	err = smtp.SendMail(nowhere.Addr(), nil, "noreply@example.org", []string{"alice@example.org"}, []byte(testMessage))
	requireSMTPError(t, err, 451, "")
	require.Empty(t, nowhere.Accepted())
}

func TestFaultySMTPProtocolErrors(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	c := rawSMTP(t, s.Addr())
	steps := []struct {
		cmd  string
		want int
	}{
		{"MAIL FROM:<a@example.org>", 503}, // before EHLO
		{"EHLO", 501},
		{"HELO client.example.org", 250},
		{"FROB", 500},
		{"VRFY alice", 502},
		{"STARTTLS", 502},
		{"AUTH PLAIN", 502}, // not required, not offered
		{"RCPT TO:<alice@example.org>", 503},
		{"DATA", 503},
		{"MAIL FROM:a@example.org", 501},
		{"MAIL FROM:<jürgen@example.org>", 553}, // no SMTPUTF8
		{"MAIL FROM:<a@example.org> SIZE=999999999", 552},
		{"MAIL FROM: <a@example.org> BODY=8BITMIME SIZE=10", 250},
		{"MAIL FROM:<a@example.org>", 503}, // nested
		{"RCPT TO:<jürgen@example.org>", 553},
		{"RCPT TO:<>", 501},
		{"DATA", 554}, // no recipients
		{"RSET", 250},
		{"MAIL FROM:<> SMTPUTF8", 250},
		{"RCPT TO:<jürgen@example.org>", 250},
		{"NOOP", 250},
		{"QUIT", 221},
	}
	for _, st := range steps {
		code, msg := exchange(t, c, "%s", st.cmd)
		require.Equal(t, st.want, code, "%s: %s", st.cmd, msg)
	}
	require.Empty(t, s.Accepted())
}

func TestFaultySMTPBoundsLineLength(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	c := rawSMTP(t, s.Addr())
	code, _ := exchange(t, c, "EHLO %s", strings.Repeat("x", 1<<20))
	require.Equal(t, 500, code)
	code, _ = exchange(t, c, "EHLO client.example.org")
	require.Equal(t, 250, code, "the session goes on")

	code, _ = exchange(t, c, "MAIL FROM:<a@example.org>")
	require.Equal(t, 250, code)
	code, _ = exchange(t, c, "RCPT TO:<b@example.org>")
	require.Equal(t, 250, code)
	code, _ = exchange(t, c, "DATA")
	require.Equal(t, 354, code)
	_, err := c.Cmd("Subject: long\r\n\r\n%s\r\n.", strings.Repeat("y", 1<<20))
	require.NoError(t, err)
	code, _, _ = c.ReadResponse(0)
	require.Equal(t, 552, code)
	require.Empty(t, s.Accepted())
}

func TestFaultySMTPIsSafeWhileSettingsChange(t *testing.T) {
	t.Parallel()
	s := startFaulty(t, "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.SetDelay(func(string) time.Duration { return time.Duration(i%2) * time.Millisecond })
			s.RefuseRecipient(func(a string) bool { return a == "nobody@example.org" }, 550, "5.1.1 no")
			s.RefuseRecipient(nil, 0, "")
			s.FailAll(0, "")
			s.RequireAuth("", "")
			_ = s.Accepted()
			_ = s.Connections()
		}
	})
	const senders = 8
	errs := make(chan error, senders)
	for i := range senders {
		go func() {
			errs <- smtp.SendMail(s.Addr(), nil, "noreply@example.org", []string{fmt.Sprintf("user%d@example.org", i)}, []byte(testMessage))
		}()
	}
	for range senders {
		require.NoError(t, <-errs)
	}
	close(stop)
	wg.Wait()
	require.Len(t, s.Accepted(), senders)
	require.Equal(t, senders, s.Connections())
}
