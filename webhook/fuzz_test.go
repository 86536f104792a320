package webhook

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// FuzzSignatures signs any body with any key and checks that a receiver
// verifying with the Standard Webhooks library accepts it, with the key
// alone and among rotated ones; the secret and Retry-After parsers must not
// panic on anything.
func FuzzSignatures(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), []byte(`{"type":"reset.succeeded"}`), "msg_0123", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "120")
	f.Add([]byte("short"), []byte{}, "", "whsec_!!", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), []byte{0, 1, 2}, "msg_x", " whsec_ whsec_ ", "-5")
	f.Fuzz(func(t *testing.T, key, body []byte, id, secrets, retryAfter string) {
		_, _ = ParseSecrets(secrets)
		if d := parseRetryAfter(retryAfter, time.Now()); d < 0 {
			t.Fatalf("negative wait %s for %q", d, retryAfter)
		}
		if len(key) < 24 || len(key) > 64 || id == "" {
			return
		}
		secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
		if _, err := ParseSecrets(secret); err != nil {
			t.Fatalf("a good secret refused: %v", err)
		}
		other := "whsec_" + base64.StdEncoding.EncodeToString(append([]byte("rotated-"), key[:24]...))
		ts := time.Unix(time.Now().Unix(), 0)
		sig, err := Sign([]string{other, secret}, id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", sig)
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("the receiver refuses our signature: %v", err)
		}
	})
}
