package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
			// Faults, as a proxy or an outage in front of Keycloak would
			// cause them: POST /faults?endpoint=&status=&times=&every=&retry_after=
			// (endpoint empty: every route), DELETE /faults clears them.
			mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
				f, err := parseFault(r.URL.Query())
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				kc.Inject(f)
			})
			mux.HandleFunc("DELETE /faults", func(http.ResponseWriter, *http.Request) { kc.ClearFaults() })
			// POST /secret?value=: the client's secret is rotated in
			// Keycloak, and every token it issued is revoked.
			mux.HandleFunc("POST /secret", func(w http.ResponseWriter, r *http.Request) {
				v := r.URL.Query().Get("value")
				if v == "" {
					http.Error(w, "value is required", http.StatusBadRequest)
					return
				}
				kc.AddServiceAccount(realm, client, v)
				kc.ExpireAllTokens()
			})
			l, err := listener.Start(control, mux, listener.Limits{})
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
	f.StringVar(&control, "control", "127.0.0.1:0", "address of the control listener (/sample, /requests?endpoint=, /faults, /secret)")
	return cmd
}

// parseFault reads a fault from the control listener's query: endpoint,
// status (an error status), and the optional times, every and retry_after.
func parseFault(q url.Values) (keycloaktest.Fault, error) {
	f := keycloaktest.Fault{Endpoint: keycloaktest.Endpoint(q.Get("endpoint"))}
	if !slices.Contains(keycloaktest.Endpoints, f.Endpoint) {
		return f, fmt.Errorf("endpoint=%q: want one of %v, or none for every route", f.Endpoint, keycloaktest.Endpoints[1:])
	}
	ints := []struct {
		name string
		to   *int
	}{{"status", &f.Status}, {"times", &f.Times}, {"every", &f.Every}}
	for _, p := range ints {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return f, fmt.Errorf("%s=%q: want a whole number ≥ 0", p.name, v)
			}
			*p.to = n
		}
	}
	if f.Status < 400 || f.Status > 599 {
		return f, fmt.Errorf("status=%q: want an error status, 400 to 599", q.Get("status"))
	}
	if v := q.Get("retry_after"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return f, fmt.Errorf("retry_after=%q: want a duration such as 3s", v)
		}
		f.RetryAfter = d
	}
	return f, nil
}
