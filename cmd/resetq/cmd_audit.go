package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/resetq/resetq/internal/audit"
)

func newAuditCmd(g *global) *cobra.Command {
	return withSubcommands(&cobra.Command{
		Use:   "audit",
		Short: "The audit trail: every request, outcome and operator action",
		Long: "Every reset request (accepted, duplicate, conflicting or refused, and why), every outcome and\n" +
			"every operator action is one record of the audit trail in Redis, with its time, actor, target and\n" +
			"result, kept for audit.retention (90 days) and at most audit.max_records (2,000,000).",
	}, newAuditExportCmd(g))
}

func newAuditExportCmd(g *global) *cobra.Command {
	var since, until, actor, action, output, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the audit trail's records of a time window as JSON lines or CSV",
		Long: "Write the audit trail's records from --since (included) to --until (not included), oldest\n" +
			"first, as JSON lines or CSV with a header row. A time is RFC 3339 (2026-11-22T18:00:00Z) or a\n" +
			"duration back from now (90m, 24h, 7d). --actor is an actor (api:helpdesk), every actor of a kind\n" +
			"(api:, cli:, console:), or a prefix ending in * (cli:alice@*); --action likewise (reset.request,\n" +
			"campaign.). GET /v1/audit (scope audit) writes the same.",
		Example: "  resetq audit export --since 7d --output csv --out audit.csv\n" +
			"  resetq audit export --since 2026-11-01T00:00:00Z --until 2026-12-01T00:00:00Z --actor api:helpdesk\n" +
			"  resetq audit export --action provider.resume --since 30d",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := audit.ParseFilter(since, until, actor, action, time.Now())
			var ie *audit.InputError
			if errors.As(err, &ie) {
				return usageErr("--%s %q: %s", ie.Name, ie.Value, ie.Problem)
			}
			if err != nil {
				return usageErr("%v", err)
			}
			format, err := audit.ParseFormat(output)
			if err != nil {
				return usageErr("--output %v", err)
			}
			cfg, rdb, err := g.connect()
			if err != nil {
				return err
			}
			defer rdb.Close()
			trail, err := newAuditTrail(cfg, rdb)
			if err != nil {
				return failErr(err)
			}
			w, done, err := createOut(out, g.stdout)
			if err != nil {
				return err
			}
			err = trail.Export(cmd.Context(), w, format, f)
			if err := done(err); err != nil {
				return failErr(err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", audit.DefaultSince, "first time: RFC 3339, or a duration back from now (24h, 7d)")
	fl.StringVar(&until, "until", "", "time to stop before: RFC 3339, or a duration back from now (default now)")
	fl.StringVar(&actor, "actor", "", "only this actor (api:helpdesk), kind of actor (api:) or prefix (cli:alice@*)")
	fl.StringVar(&action, "action", "", "only this action (reset.request) or kind of action (campaign.)")
	// This --output replaces the global one (text or json): an export has
	// formats of its own.
	fl.StringVar(&output, "output", string(audit.JSONL), "jsonl or csv")
	fl.StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}

// createOut opens where an export goes: path, or stdout for "" and "-".
// done closes it after the export, removing the file when err says the
// export is incomplete, and returns the first error.
func createOut(path string, stdout io.Writer) (io.Writer, func(error) error, error) {
	if path == "" || path == "-" {
		return stdout, func(err error) error { return err }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, usageErr("--out: %v", err)
	}
	return f, func(err error) error {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("%w (%s removed: it was incomplete)", err, path)
		}
		return nil
	}, nil
}
