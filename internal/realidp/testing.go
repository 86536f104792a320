package realidp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/resetq/resetq/internal/freeport"
)

// The tests of one process share one Keycloak (it takes half a minute to
// start); each test gets realms of its own.
var shared struct {
	sync.Mutex
	kc  *Keycloak
	err error
}

// TestKeycloak returns the Keycloak this test process shares: the one at
// $RESETQ_KEYCLOAK_URL under `make e2e`, else one started on first use
// (SharedKeycloak). The package's TestMain stops it: see Main.
func TestKeycloak(t testing.TB) *Keycloak {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.kc == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		shared.kc, shared.err = SharedKeycloak(ctx)
	}
	if shared.err != nil {
		t.Fatalf("the real Keycloak: %v", shared.err)
	}
	return shared.kc
}

// Main runs the tests of a package that uses TestKeycloak, then stops the
// Keycloak they shared: a package's whole TestMain.
func Main(m *testing.M) {
	code := m.Run()
	StopTestKeycloak()
	os.Exit(code)
}

// StopTestKeycloak stops the shared Keycloak if this process started it.
func StopTestKeycloak() {
	shared.Lock()
	defer shared.Unlock()
	if shared.kc != nil {
		shared.kc.Stop()
		shared.kc = nil
	}
}

// Realm is one test's realm on a real Keycloak, made from realm-e2e.json.
// Its mail goes to Relay, a FaultySMTP that passes what it accepts on to
// Mail, a Mailpit of the test's own: a test counts the mails there and
// misbehaves through Relay's knobs.
type Realm struct {
	KC    *Keycloak
	Name  string
	Mail  *Mailpit
	Relay *FaultySMTP
}

// NewTestRealm creates a realm with a unique name on kc and everything it
// sends mail through; all of it is removed when the test ends.
func NewTestRealm(t testing.TB, kc *Keycloak) *Realm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mail, err := StartMailpit(ctx, MailpitConfig{})
	if err != nil {
		t.Fatalf("starting Mailpit: %v", err)
	}
	t.Cleanup(mail.Stop)
	relay, err := StartFaultySMTP(mail.SMTPAddr())
	if err != nil {
		t.Fatalf("starting the SMTP relay: %v", err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	var b [4]byte
	_, _ = rand.Read(b[:])
	r := &Realm{KC: kc, Name: "t-" + hex.EncodeToString(b[:]), Mail: mail, Relay: relay}
	if err := kc.CreateRealm(ctx, E2ERealm(r.Name, SMTP{Host: relay.Host(), Port: relay.Port()})); err != nil {
		t.Fatalf("creating realm %s: %v", r.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := kc.DeleteRealm(ctx, r.Name); err != nil {
			t.Errorf("deleting realm %s: %v", r.Name, err)
		}
	})
	return r
}

// Update changes the realm's settings (a RealmRepresentation's top-level
// keys), failing the test when Keycloak refuses.
func (r *Realm) Update(t testing.TB, patch map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.KC.UpdateRealm(ctx, r.Name, patch); err != nil {
		t.Fatalf("updating realm %s: %v", r.Name, err)
	}
}

// SendMailTo points the realm's SMTP settings at host:port (keeping the
// rest), for a relay that is down (a closed port) or one put back.
func (r *Realm) SendMailTo(t testing.TB, host string, port int) {
	t.Helper()
	r.Update(t, map[string]any{"smtpServer": map[string]any{"host": host, "port": strconv.Itoa(port),
		"from": "resetq-e2e@example.org", "fromDisplayName": "resetq e2e", "auth": "false", "ssl": "false", "starttls": "false"}})
}

// UserID returns the id of the realm's user with that username.
func (r *Realm) UserID(t testing.TB, username string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := r.KC.UserID(ctx, r.Name, username)
	if err != nil {
		t.Fatalf("user %s of %s: %v", username, r.Name, err)
	}
	return id
}

// Sent is how many mails reached Mail for the address.
func (r *Realm) Sent(t testing.TB, addr string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := r.Mail.To(ctx, addr)
	if err != nil {
		t.Fatalf("reading Mailpit: %v", err)
	}
	return len(msgs)
}

// ClosedPort returns a loopback port nothing listens on (a relay that is
// down).
func ClosedPort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// NewTestKratos starts a Kratos of the test's own mailing a Mailpit of its
// own (cfg.SMTPURL is set to it); both stop when the test ends, Kratos'
// log tail shown if it failed.
func NewTestKratos(t testing.TB, cfg KratosConfig) (*Kratos, *Mailpit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // a cold Kratos build takes about 15
	defer cancel()
	m, err := StartMailpit(ctx, MailpitConfig{})
	if err != nil {
		t.Fatalf("starting Mailpit: %v", err)
	}
	t.Cleanup(m.Stop)
	cfg.SMTPURL = "smtp://" + m.SMTPAddr() + "/?disable_starttls=true"
	k, err := StartKratos(ctx, cfg)
	if err != nil {
		t.Fatalf("starting Kratos: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of kratos's log:\n%s", k.LogTail(40))
		}
		k.Stop()
	})
	return k, m
}

// NewTestFirebaseAuth starts a Firebase Auth emulator of the test's own
// (installing firebase-tools on first use); it stops when the test ends,
// its log tail shown if the test failed.
func NewTestFirebaseAuth(t testing.TB) *FirebaseAuth {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold npm install takes about 4
	defer cancel()
	f, err := StartFirebaseAuth(ctx)
	if err != nil {
		t.Fatalf("starting the Firebase Auth emulator: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of the Firebase Auth emulator's log:\n%s", f.LogTail(40))
		}
		f.Stop()
	})
	return f
}
