package tasks_test

import (
	"testing"

	"github.com/resetq/resetq/tasks"
)

// FuzzDecode feeds Decode anything a queue could hold. It must not panic;
// what it accepts must be valid and survive a round trip unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"provider":"corp","user":{"email":"alice@example.com"},"actions":["UPDATE_PASSWORD"],"campaign":"","campaign_row":0,"idempotency_key":"","meta":{"ticket":"HD-4411"},"requested_at":"2026-11-22T10:00:00Z"}`))
	f.Add([]byte(`{"v":1,"provider":"corp","user":{"id":"4f1c"},"campaign":"breach-2026","requested_at":"2026-11-22T10:00:00.123Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"provider":"corp","user":{"email":"a@b.co","username":"a"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := tasks.Decode(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without words")
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Decode accepted what Validate refuses: %v", err)
		}
		enc, err := p.Encode()
		if err != nil {
			t.Fatalf("Encode refuses what Decode accepted: %v", err)
		}
		q, err := tasks.Decode(enc)
		if err != nil {
			t.Fatalf("its own encoding does not decode: %v", err)
		}
		again, _ := q.Encode()
		if string(again) != string(enc) {
			t.Fatalf("round trip changed it:\n%s\n%s", enc, again)
		}
	})
}
