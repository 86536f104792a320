package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/internal/checks"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/halt"
	"github.com/resetq/resetq/internal/metrics"
	"github.com/resetq/resetq/worker"
)

func newProviderCmd(g *global) *cobra.Command {
	return withSubcommands(&cobra.Command{
		Use:   "provider",
		Short: "Check a provider's configuration, or resume a halted provider",
	}, newProviderCheckCmd(g), newProviderResumeCmd(g))
}

func (g *global) provider(name string) (*config.Config, *config.Provider, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	p := cfg.Provider(name)
	if p == nil {
		return nil, nil, usageErr("provider %q is not in %s (configured: %v)", name, g.config, cfg.ProviderNames())
	}
	return cfg, p, nil
}

type checkOutput struct {
	Provider string   `json:"provider"`
	OK       bool     `json:"ok"`
	Lines    []string `json:"lines"`
	Warnings []string `json:"warnings,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Problem  string   `json:"problem,omitempty"`
	Fix      string   `json:"fix,omitempty"`
	Halted   *struct {
		Reason string    `json:"reason"`
		Since  time.Time `json:"since"`
	} `json:"halted,omitempty"`
}

func newProviderCheckCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "check PROVIDER",
		Short: "Get a token and make one harmless read; say plainly what is wrong",
		Long: "Get an admin token and make one harmless read (no email is sent), then say plainly\n" +
			"what is wrong: the secret, the role, the realm, or the base path. Exits 0 when the\n" +
			"provider is ready for work.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, p, err := g.provider(args[0])
			if err != nil {
				return err
			}
			out, err := checkProvider(cmd.Context(), p)
			if err != nil {
				return err
			}
			if st := recordCheck(cmd.Context(), cfg, out); st != nil {
				out.Halted = &struct {
					Reason string    `json:"reason"`
					Since  time.Time `json:"since"`
				}{st.Reason, st.Since}
			}
			_ = writeOut(g, out, func(w io.Writer) { printCheck(w, out) })
			if !out.OK {
				return silent{code: exitFailure}
			}
			return nil
		},
	}
}

// checkProvider builds the provider afresh (its own token, given back
// afterwards) and runs its check, as `resetq provider check` and the
// console's Check now do. The error is for a provider that cannot even be
// built from the configuration.
func checkProvider(ctx context.Context, p *config.Provider) (checkOutput, error) {
	out := checkOutput{Provider: p.Name, Lines: []string{}}
	ip, err := p.Settings.New(p, (*metrics.Metrics)(nil).HTTPClient(p.Name, 1))
	if err != nil {
		return out, usageErr("%v", err)
	}
	checker, ok := ip.(idp.Checker)
	if !ok {
		return out, usageErr("provider type %s has no check", p.Type)
	}
	cctx, cancel := context.WithTimeout(ctx, p.AttemptTimeout)
	defer cancel()
	rep, cerr := checker.Check(cctx)
	if r, ok := ip.(idp.Releaser); ok { // a token minted for the check is revoked
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer rcancel()
		if err := r.Release(rctx); err != nil {
			rep.Warnings = append(rep.Warnings, err.Error())
		}
	}
	out.Lines, out.Warnings = append(out.Lines, rep.Lines...), rep.Warnings
	if cerr == nil {
		out.OK = true
	} else {
		d := worker.Classify(cerr)
		out.Reason, out.Problem, out.Fix = d.Reason, d.Err.Error(), d.Err.Hint
	}
	return out, nil
}

func printCheck(w io.Writer, out checkOutput) {
	for _, l := range out.Lines {
		fmt.Fprintf(w, "  ok    %s\n", l)
	}
	for _, l := range out.Warnings {
		fmt.Fprintf(w, "  note  %s\n", l)
	}
	if out.OK {
		fmt.Fprintf(w, "provider %s: ready\n", out.Provider)
	} else {
		fmt.Fprintf(w, "  FAIL  %s\n", out.Problem)
		if out.Fix != "" {
			fmt.Fprintf(w, "  fix   %s\n", out.Fix)
		}
		fmt.Fprintf(w, "provider %s: NOT ready (%s)\n", out.Provider, out.Reason)
	}
	if out.Halted != nil {
		fmt.Fprintf(w, "provider %s is halted since %s (%s); when the check passes, run: resetq provider resume %s\n",
			out.Provider, out.Halted.Since.Format(time.RFC3339), out.Halted.Reason, out.Provider)
	}
}

// recordCheck keeps the check as its provider's last one (shown in the
// console, by cliWho) and reads the provider's halt record, if Redis can be
// reached; a check must work without Redis, so failures are ignored.
func recordCheck(ctx context.Context, cfg *config.Config, out checkOutput) *halt.State {
	rdb, err := openRedis(cfg)
	if err != nil {
		return nil
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = checks.New(rdb).Save(ctx, checkRecord(out, cliWho(), time.Now()))
	auditAction(ctx, auditTrail(cfg, rdb), checkAudit(out))
	st, _ := halt.New(rdb).Get(ctx, out.Provider)
	return st
}

// cliWho names who ran the command line: "cli:<user>@<host>".
func cliWho() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return "cli:" + cmp.Or(name, "unknown") + "@" + host
}

func newProviderResumeCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "resume PROVIDER",
		Short: "Resume a halted provider: its queue runs again where it stopped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, p, err := g.provider(args[0])
			if err != nil {
				return err
			}
			rdb, err := openRedis(cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			wh, err := newWebhooks(cfg, rdb, nil, newLogger(cfg.Log, g.stderr))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), shortWait)
			defer cancel()
			res, err := newHalts(cfg, rdb, wh, nil).Resume(ctx, p.Name)
			if errors.Is(err, halt.ErrEventNotQueued) {
				fmt.Fprintf(g.stderr, "resetq: %v\n", err)
			} else if err != nil {
				return failErr(fmt.Errorf("resuming %s: %w", p.Name, err))
			}
			out := map[string]any{"provider": p.Name, "was_halted": res.Was != nil, "requeued": res.Requeued}
			if res.Was != nil {
				out["reason"], out["since"] = res.Was.Reason, res.Was.Since
			}
			return writeOut(g, out, func(w io.Writer) {
				if res.Was == nil {
					fmt.Fprintf(w, "provider %s was not halted; its queue is running\n", p.Name)
				} else {
					fmt.Fprintf(w, "provider %s resumed (halted since %s: %s); its queue runs again\n",
						p.Name, res.Was.Since.Format(time.RFC3339), res.Was.Reason)
				}
				if res.Requeued > 0 {
					fmt.Fprintf(w, "%d tasks archived during the halt were put back in the queue\n", res.Requeued)
				}
			})
		},
	}
}
