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

// last is the last of the tokens, the one the provider holds now (none
// before the first).
func last(tokens []string) []string {
	if len(tokens) == 0 {
		return nil
	}
	return tokens[len(tokens)-1:]
}
