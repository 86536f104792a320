package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/listener"
)

// newEmulatorCmd runs the Keycloak emulator as a process of its own, with a
// control listener that reports what it received. The end-to-end tests use
// it to see the IdP's side through a clock no test process disturbs.
func newEmulatorCmd(g *global) *cobra.Command {
	var realm, client, secret, control string
	var users int
	cmd := &cobra.Command{
		Use:    "emulator",
		Short:  "Run the Keycloak emulator alone (for tests)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				return usageErr("--secret is required")
			}
			kc := keycloaktest.NewServer()
			defer kc.Close()
			kc.AddServiceAccount(realm, client, secret)
			sample := kc.AddSampleUsers(realm, users)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /sample", func(w http.ResponseWriter, _ *http.Request) {
				_ = json.NewEncoder(w).Encode(sample)
			})
			mux.HandleFunc("GET /requests", func(w http.ResponseWriter, r *http.Request) {
				type entry struct {
					Time   time.Time `json:"time"`
					Method string    `json:"method"`
					Path   string    `json:"path"`
					Status int       `json:"status"`
				}
				out := []entry{}
				for _, req := range kc.RequestsTo(keycloaktest.Endpoint(r.URL.Query().Get("endpoint"))) {
					out = append(out, entry{req.Time, req.Method, req.Path, req.Status})
				}
				_ = json.NewEncoder(w).Encode(out)
			})
			l, err := listener.Start(control, mux)
			if err != nil {
				return failErr(err)
			}
			defer func() { _ = l.Shutdown(context.Background()) }()
			fmt.Fprintf(g.stdout, "{\"url\":%q,\"control\":%q}\n", kc.URL(), "http://"+l.Addr)
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&realm, "realm", "corp", "realm to create")
	f.StringVar(&client, "client", "resetq", "service-account client to create")
	f.StringVar(&secret, "secret", "", "its secret")
	f.IntVar(&users, "users", 100, "sample users")
	f.StringVar(&control, "control", "127.0.0.1:0", "address of the control listener (/sample, /requests?endpoint=)")
	return cmd
}
