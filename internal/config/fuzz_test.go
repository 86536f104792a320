package config_test

import (
	"strings"
	"testing"

	"github.com/resetq/resetq/internal/config"
)

// FuzzParse loads any file as a configuration. It must not panic, and an
// error must name the file (and so, in practice, the line and field).
func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add("providers:\n  - {name: corp, type: keycloak, base_url: \"https://sso.example.com\", realm: r, auth: {client_id: c, client_secret: s}}\n")
	f.Add("redis: {cluster: {addrs: [\"h:1\"]}}\napi: {tokens: [{token: short}]}\n")
	f.Add("providers: [{name: x, type: keygen, account: a, token: ${T:-t}}]\nwebhooks: {endpoints: [{url: \"http://127.0.0.1/\"}]}\n")
	f.Add("worker: {concurrency: 1e9}\n")
	f.Add(":\n- [\n")
	f.Add("a: &x [*x]\n")
	f.Fuzz(func(t *testing.T, src string) {
		_, err := config.Parse("resetq.yaml", []byte(src), env(map[string]string{"T": "v"}))
		if err != nil && !strings.Contains(err.Error(), "resetq.yaml") {
			t.Fatalf("the error does not name the file: %v", err)
		}
	})
}
