package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resetq/resetq/internal/version"
	"github.com/resetq/resetq/webhook"
)

func newWebhookCmd(g *global) *cobra.Command {
	return withSubcommands(&cobra.Command{
		Use:   "webhook",
		Short: "Send a signed test event, list endpoints, re-enable one",
	}, newWebhookTestCmd(g), newWebhookListCmd(g), newWebhookEnableCmd(g))
}

func newWebhookTestCmd(g *global) *cobra.Command {
	var (
		secret, secretFile, event string
		allowPrivate              bool
		timeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "test URL",
		Short: "Send a signed sample event to URL and print the answer",
		Long: "Send a signed sample event to URL, as a delivery would (Standard Webhooks headers, no\n" +
			"redirects, private addresses refused unless --allow-private-networks), and print the\n" +
			"answer. Without --secret a new secret is generated and printed. Exits 0 on a 2xx.",
		Example: "  resetq webhook test https://hooks.example.com/resetq --secret-file /run/secrets/webhook\n" +
			"  resetq webhook test http://127.0.0.1:8080/hooks --allow-private-networks --event provider.halted",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := args[0]
			if err := webhook.CheckURL(target, allowPrivate); err != nil {
				return usageErr("%v", err)
			}
			generated := false
			if secretFile != "" {
				b, err := os.ReadFile(secretFile)
				if err != nil {
					return usageErr("--secret-file: %v", err)
				}
				secret = strings.TrimSpace(string(b))
			}
			if secret == "" {
				key := make([]byte, 32)
				_, _ = rand.Read(key)
				secret, generated = "whsec_"+base64.StdEncoding.EncodeToString(key), true
			}
			secrets, err := webhook.ParseSecrets(secret)
			if err != nil {
				return usageErr("--secret: %v", err)
			}
			ev, err := webhook.Sample(event, time.Now())
			if err != nil {
				return usageErr("--event: %v", err)
			}
			body, err := ev.Body(true, nil)
			if err != nil {
				return failErr(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout+time.Second)
			defer cancel()
			client := webhook.NewClient(timeout, min(5*time.Second, timeout), allowPrivate)
			res, err := webhook.Post(ctx, client, target, secrets, ev.ID, body, version.UserAgent())
			out := map[string]any{"url": redactQuery(target), "event": ev.Type, "webhook_id": ev.ID}
			if generated {
				out["generated_secret"] = secret
			}
			if err != nil {
				out["error"] = err.Error()
			} else {
				out["status"], out["took_ms"], out["body"] = res.Status, res.Took.Milliseconds(), res.Excerpt
			}
			_ = writeOut(g, out, func(w io.Writer) {
				if generated {
					fmt.Fprintf(w, "signed with a new secret (give it to the receiver):\n  %s\n", secret)
				}
				fmt.Fprintf(w, "POST %s\n  %s, webhook-id %s\n", redactQuery(target), ev.Type, ev.ID)
				switch {
				case err != nil:
					fmt.Fprintf(w, "  no answer: %v\n", err)
				default:
					fmt.Fprintf(w, "  → %d in %s", res.Status, res.Took.Round(time.Millisecond))
					if res.Excerpt != "" {
						fmt.Fprintf(w, ": %s", res.Excerpt)
					}
					fmt.Fprintln(w)
				}
			})
			if err != nil || res.Status < 200 || res.Status >= 300 {
				return silent{code: exitFailure}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&secret, "secret", "", "whsec_ secret to sign with (several, space-separated, give one signature each)")
	f.StringVar(&secretFile, "secret-file", "", "file holding the secret")
	f.StringVar(&event, "event", webhook.ResetSucceeded, "event type of the sample: "+strings.Join(webhook.Types, ", "))
	f.BoolVar(&allowPrivate, "allow-private-networks", false, "allow loopback, private and link-local addresses, and http")
	f.DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for the answer")
	return cmd
}

// redactQuery drops a URL's query, which can carry a receiver's token.
func redactQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

func newWebhookListCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the configured endpoints, their events and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, rdb, err := g.connect()
			if err != nil {
				return err
			}
			defer rdb.Close()
			states := webhook.NewStates(rdb)
			ctx, cancel := context.WithTimeout(cmd.Context(), shortWait)
			defer cancel()
			type row struct {
				Name      string    `json:"name"`
				URL       string    `json:"url"`
				Events    []string  `json:"events"`
				Disabled  bool      `json:"disabled"`
				Since     time.Time `json:"disabled_since,omitzero"`
				Reason    string    `json:"disabled_reason,omitempty"`
				Last      int       `json:"last_status,omitempty"`
				LastAt    time.Time `json:"last_at,omitzero"`
				LastError string    `json:"last_error,omitempty"`
				Delivered int64     `json:"delivered"`
				Failed    int64     `json:"failed_attempts"`
			}
			var rows []row
			for _, e := range cfg.Webhooks.Endpoints {
				st, err := states.Get(ctx, e.Name)
				if err != nil {
					return failErr(fmt.Errorf("reading the state of %s: %w", e.Name, err))
				}
				rows = append(rows, row{e.Name, redactQuery(e.URL), e.Events, st.Disabled, st.DisabledAt, st.DisabledReason,
					st.LastStatus, st.LastAt, st.LastError, st.Delivered, st.Failed})
			}
			return writeOut(g, map[string]any{"endpoints": rows}, func(w io.Writer) {
				if len(rows) == 0 {
					fmt.Fprintln(w, "no webhook endpoints are configured (webhooks.endpoints)")
					return
				}
				for _, r := range rows {
					state := "enabled"
					if r.Disabled {
						state = fmt.Sprintf("DISABLED since %s (%s): resetq webhook enable %s", r.Since.Format(time.RFC3339), r.Reason, r.Name)
					}
					fmt.Fprintf(w, "%s  %s\n  events: %s\n  state: %s\n  delivered %d, failed attempts %d", r.Name, r.URL,
						strings.Join(r.Events, ", "), state, r.Delivered, r.Failed)
					if !r.LastAt.IsZero() {
						fmt.Fprintf(w, ", last answer %d at %s", r.Last, r.LastAt.Format(time.RFC3339))
						if r.LastError != "" {
							fmt.Fprintf(w, " (%s)", r.LastError)
						}
					}
					fmt.Fprintln(w)
				}
			})
		},
	}
}

func newWebhookEnableCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "enable ENDPOINT",
		Short: "Re-enable an endpoint that was disabled (it answered 410 Gone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			found := false
			for _, e := range cfg.Webhooks.Endpoints {
				found = found || e.Name == args[0]
			}
			if !found {
				return usageErr("webhook endpoint %q is not in %s", args[0], g.config)
			}
			rdb, err := openRedis(cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), shortWait)
			defer cancel()
			was, err := webhook.NewStates(rdb).Enable(ctx, args[0])
			auditAction(ctx, auditTrail(cfg, rdb), webhookAudit(args[0], was, err))
			if err != nil {
				return failErr(err)
			}
			return writeOut(g, map[string]any{"endpoint": args[0], "was_disabled": was}, func(w io.Writer) {
				if was {
					fmt.Fprintf(w, "endpoint %s enabled: new events are delivered to it again\n", args[0])
				} else {
					fmt.Fprintf(w, "endpoint %s was not disabled\n", args[0])
				}
			})
		},
	}
}
