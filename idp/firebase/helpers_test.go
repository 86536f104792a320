package firebase_test

import (
	"encoding/json"
	"testing"
)

// privateKey is the private key in a service account's JSON key.
func privateKey(t *testing.T, key []byte) string {
	t.Helper()
	var k struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(key, &k); err != nil || k.PrivateKey == "" {
		t.Fatalf("not a service account key: %v", err)
	}
	return k.PrivateKey
}
