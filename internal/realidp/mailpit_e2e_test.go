//go:build e2e

package realidp

import (
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startMailpit starts a Mailpit of the test's own, stopped at its end.
func startMailpit(t *testing.T, cfg MailpitConfig) *Mailpit {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // a cold build takes about two
	defer cancel()
	begin := time.Now()
	m, err := StartMailpit(ctx, cfg)
	require.NoError(t, err)
	t.Logf("mailpit %s ready in %s: SMTP %s, API %s", MailpitVersion, time.Since(begin).Round(time.Millisecond), m.SMTPAddr(), m.URL())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of mailpit's log:\n%s", m.LogTail(40))
		}
		m.Stop()
	})
	return m
}

// sendMail sends one message over SMTP with net/smtp, the envelope
// recipient also in the To header.
func sendMail(addr, from, to, subject, body string) error {
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", from, to, subject, body)
	return smtp.SendMail(addr, nil, from, []string{to}, []byte(msg))
}

func TestMailpitStoresBeforeItAnswers(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{})
	ctx := t.Context()

	// No waiting between the 250 and the count: Mailpit commits before
	// it answers, and this pins that down.
	for i := 1; i <= 20; i++ {
		require.NoError(t, sendMail(m.SMTPAddr(), "noreply@example.org", fmt.Sprintf("user%d@example.org", i), fmt.Sprintf("mail %d", i), "hello"))
		msgs, err := m.Messages(ctx)
		require.NoError(t, err)
		require.Len(t, msgs, i, "right after the 250 of mail %d", i)
		require.Equal(t, fmt.Sprintf("mail %d", i), msgs[0].Subject, "newest first")
	}
}

func TestMailpitSearchFindsRecipients(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{})
	ctx := t.Context()
	for _, to := range []string{"alice@example.org", "malice@example.org", "carol+it@example.org", "Dave.Mixed@Example.ORG"} {
		require.NoError(t, sendMail(m.SMTPAddr(), "noreply@example.org", to, "reset for "+to, "Your link: https://idp.example.org/reset?key=abc"))
	}

	t.Run("plus address matches literally", func(t *testing.T) {
		msgs, err := m.Search(ctx, `to:"carol+it@example.org"`)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, []Address{{Address: "carol+it@example.org"}}, msgs[0].To)
		require.Equal(t, Address{Address: "noreply@example.org"}, msgs[0].From)
		require.NotEmpty(t, msgs[0].ID)
		require.NotEmpty(t, msgs[0].MessageID)
		require.WithinDuration(t, time.Now(), msgs[0].Created, time.Minute)

		msgs, err = m.Search(ctx, `to:"carol@example.org"`)
		require.NoError(t, err)
		require.Empty(t, msgs, "the + part is not dropped")
	})
	t.Run("case does not matter, case is kept", func(t *testing.T) {
		for _, q := range []string{"to:dave.mixed@example.org", "to:DAVE.MIXED@EXAMPLE.ORG", `to:"Dave.Mixed@Example.ORG"`} {
			msgs, err := m.Search(ctx, q)
			require.NoError(t, err)
			require.Len(t, msgs, 1, q)
			require.Equal(t, "Dave.Mixed@Example.ORG", msgs[0].To[0].Address, q)
		}
	})
	t.Run("to: is a substring match, To is exact", func(t *testing.T) {
		msgs, err := m.Search(ctx, `to:"alice@example.org"`)
		require.NoError(t, err)
		require.Len(t, msgs, 2, "alice@ is inside malice@")

		msgs, err = m.To(ctx, "alice@example.org")
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, "alice@example.org", msgs[0].To[0].Address)

		msgs, err = m.To(ctx, "DAVE.mixed@example.org")
		require.NoError(t, err)
		require.Len(t, msgs, 1)
	})
	t.Run("Body returns the text", func(t *testing.T) {
		msgs, err := m.To(ctx, "carol+it@example.org")
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		text, html, err := m.Body(ctx, msgs[0].ID)
		require.NoError(t, err)
		require.Contains(t, text, "https://idp.example.org/reset?key=abc")
		require.Empty(t, html)

		_, _, err = m.Body(ctx, "no-such-id")
		require.ErrorContains(t, err, "/api/v1/message/no-such-id")
	})
	t.Run("an empty query is refused", func(t *testing.T) {
		_, err := m.Search(ctx, " ")
		require.ErrorContains(t, err, "empty query")
	})
}

func TestMailpitNonASCIIRecipient(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{})
	ctx := t.Context()
	// net/smtp adds SMTPUTF8 to MAIL FROM because Mailpit advertises it.
	require.NoError(t, sendMail(m.SMTPAddr(), "noreply@example.org", "jürgen@example.org", "utf8 lower", "hi"))
	require.NoError(t, sendMail(m.SMTPAddr(), "noreply@example.org", "JÜRGEN@example.org", "utf8 upper", "hi"))

	msgs, err := m.Search(ctx, "to:jürgen@example.org")
	require.NoError(t, err)
	require.Len(t, msgs, 1, "SQLite's LIKE folds ASCII only: Ü is not ü")
	require.Equal(t, "utf8 lower", msgs[0].Subject)
	require.Equal(t, "jürgen@example.org", msgs[0].To[0].Address)

	msgs, err = m.Search(ctx, "to:JÜRGEN@example.org")
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the query is lower-cased, so the upper-case address is not found by it either")
	require.Equal(t, "utf8 lower", msgs[0].Subject)

	msgs, err = m.To(ctx, "JÜRGEN@example.org")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, "utf8 lower", msgs[0].Subject, "To folds case with Unicode rules but only filters what the search found")

	all, err := m.Messages(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "JÜRGEN@example.org", all[0].To[0].Address)
}

func TestMailpitWaitForAndDeleteAll(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{})
	ctx := t.Context()

	sent := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 3 && err == nil; i++ {
			err = sendMail(m.SMTPAddr(), "noreply@example.org", "bob@example.org", fmt.Sprintf("wait %d", i), "x")
		}
		sent <- err
	}()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := m.WaitFor(wctx, `to:"bob@example.org"`, 3)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	require.NoError(t, <-sent)

	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	msgs, err = m.WaitFor(short, `to:"bob@example.org"`, 4)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "waiting for 4 messages")
	require.ErrorContains(t, err, ": 3 after")
	require.Len(t, msgs, 3)

	require.NoError(t, m.DeleteAll(ctx))
	all, err := m.Messages(ctx)
	require.NoError(t, err)
	require.Empty(t, all)
}

func TestMailpitChaosRefusesRecipients(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{Chaos: true})
	ctx := t.Context()

	require.NoError(t, m.SetChaos(ctx, Chaos{Recipient: ChaosTrigger{ErrorCode: 550, Probability: 100}}))
	err := sendMail(m.SMTPAddr(), "noreply@example.org", "alice@example.org", "refused", "x")
	var tpErr *textproto.Error
	require.True(t, errors.As(err, &tpErr), "want an SMTP error, got %v", err)
	require.Equal(t, 550, tpErr.Code)
	require.Equal(t, "Chaos recipient error", tpErr.Msg)

	require.NoError(t, m.SetChaos(ctx, Chaos{Sender: ChaosTrigger{ErrorCode: 451, Probability: 100}}))
	err = sendMail(m.SMTPAddr(), "noreply@example.org", "alice@example.org", "refused", "x")
	require.True(t, errors.As(err, &tpErr), "want an SMTP error, got %v", err)
	require.Equal(t, 451, tpErr.Code)

	require.ErrorContains(t, m.SetChaos(ctx, Chaos{Recipient: ChaosTrigger{ErrorCode: 250, Probability: 100}}), "error code must be between 400 and 599")

	require.NoError(t, m.ClearChaos(ctx))
	require.NoError(t, sendMail(m.SMTPAddr(), "noreply@example.org", "alice@example.org", "accepted", "x"))
	msgs, err := m.Messages(ctx)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, "accepted", msgs[0].Subject)
}

func TestMailpitChaosNeedsTheFlag(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{})
	err := m.SetChaos(t.Context(), Chaos{Recipient: ChaosTrigger{ErrorCode: 550, Probability: 100}})
	require.ErrorContains(t, err, "Chaos is not enabled")
}

func TestMailpitAcceptAnyAuth(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{AcceptAnyAuth: true, Chaos: true})
	ctx := t.Context()
	msg := []byte("From: <a@example.org>\r\nTo: <b@example.org>\r\nSubject: auth\r\n\r\nx\r\n")
	auth := smtp.PlainAuth("", "anyone", "anything", m.SMTPHost())
	require.NoError(t, smtp.SendMail(m.SMTPAddr(), auth, "a@example.org", []string{"b@example.org"}, msg))

	require.NoError(t, m.SetChaos(ctx, Chaos{Authentication: ChaosTrigger{Probability: 100}}))
	err := smtp.SendMail(m.SMTPAddr(), auth, "a@example.org", []string{"b@example.org"}, msg)
	var tpErr *textproto.Error
	require.True(t, errors.As(err, &tpErr), "want an SMTP error, got %v", err)
	require.Equal(t, 535, tpErr.Code)
	require.True(t, strings.HasPrefix(tpErr.Msg, "Chaos"), tpErr.Msg)
}

func TestBuildMailpitBuildsIntoAnEmptyCache(t *testing.T) {
	t.Setenv("RESETQ_CACHE_DIR", t.TempDir())
	t.Setenv("RESETQ_MAILPIT_BIN", "")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	begin := time.Now()
	bin, err := BuildMailpit(ctx)
	require.NoError(t, err)
	t.Logf("built %s in %s", bin, time.Since(begin).Round(time.Millisecond))
	cache, err := CacheDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(cache, "mailpit", MailpitVersion, "mailpit"), bin)
	// A go-install build calls itself "dev"; its build info has the version.
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Regexp(t, `\bmod\s+github.com/axllent/mailpit\s+`+MailpitVersion+`\b`, string(out))

	again, err := BuildMailpit(ctx)
	require.NoError(t, err)
	require.Equal(t, bin, again, "the second call finds the build")
}

func TestBuildMailpitSaysWhenTheGivenBinaryIsMissing(t *testing.T) {
	t.Setenv("RESETQ_MAILPIT_BIN", filepath.Join(t.TempDir(), "no-such-mailpit"))
	_, err := BuildMailpit(t.Context())
	require.ErrorContains(t, err, "RESETQ_MAILPIT_BIN")
	require.ErrorContains(t, err, "no-such-mailpit")
}

func TestFaultySMTPRelaysIntoMailpit(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, MailpitConfig{Chaos: true})
	ctx := t.Context()
	front, err := StartFaultySMTP(m.SMTPAddr())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, front.Close()) })

	for _, to := range []string{"carol+it@example.org", "jürgen@example.org"} {
		require.NoError(t, sendMail(front.Addr(), "noreply@example.org", to, "via faulty "+to, "body"))
		msgs, err := m.To(ctx, to)
		require.NoError(t, err)
		require.Len(t, msgs, 1, to)
		require.Equal(t, "via faulty "+to, msgs[0].Subject)
	}
	require.Len(t, front.Accepted(), 2)

	require.NoError(t, m.SetChaos(ctx, Chaos{Recipient: ChaosTrigger{ErrorCode: 550, Probability: 100}}))
	err = sendMail(front.Addr(), "noreply@example.org", "alice@example.org", "refused downstream", "body")
	var tpErr *textproto.Error
	require.True(t, errors.As(err, &tpErr), "want an SMTP error, got %v", err)
	require.Equal(t, 451, tpErr.Code)
	require.Contains(t, tpErr.Msg, "550 Chaos recipient error")
	require.Len(t, front.Accepted(), 2, "nothing recorded when relaying fails")
	all, err := m.Messages(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
}
