package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

func newCampaignCmd(g *global) *cobra.Command {
	return withSubcommands(&cobra.Command{
		Use:   "campaign",
		Short: "Bulk reset campaigns: start, status, list, pause, resume, cancel, report",
		Long: "A campaign resets every user of a CSV or JSON-lines file at the pace the IdP and its mail\n" +
			"relay can take. `start` imports the file into Redis; the feeders in every `resetq worker` send it,\n" +
			"so the campaign goes on when this command ends, and survives any process restarting.",
	}, newCampaignStartCmd(g), newCampaignStatusCmd(g), newCampaignListCmd(g),
		newCampaignControlCmd(g, "pause"), newCampaignControlCmd(g, "resume"), newCampaignControlCmd(g, "cancel"),
		newCampaignReportCmd(g))
}

// producerClient opens Redis and a producer client for one command.
func (g *global) producerClient() (*producer.Client, func(), error) {
	cfg, rdb, err := g.connect()
	if err != nil {
		return nil, nil, err
	}
	client, err := producer.NewClient(producerConfig(cfg, rdb))
	if err != nil {
		rdb.Close()
		return nil, nil, failErr(err)
	}
	return client, func() { rdb.Close() }, nil
}

// withClient is the RunE of a command that starts with the producer
// client: it opens the client (and Redis) for run, and closes it after.
func (g *global) withClient(run func(cmd *cobra.Command, client *producer.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		client, closeRedis, err := g.producerClient()
		if err != nil {
			return err
		}
		defer closeRedis()
		return run(cmd, client, args)
	}
}

// campaignErr maps the producer's errors to exit codes: the request's fault
// is a usage error (2), anything else a failure (1).
func campaignErr(err error) error {
	switch {
	case errors.Is(err, producer.ErrInvalidRequest):
		return usageErr("%s", strings.TrimPrefix(err.Error(), producer.ErrInvalidRequest.Error()+": "))
	case errors.Is(err, producer.ErrCampaignNotFound), errors.Is(err, producer.ErrCampaignExists),
		errors.Is(err, producer.ErrCampaignState):
		return usageErr("%v", err)
	}
	return failErr(err)
}

func newCampaignStartCmd(g *global) *cobra.Command {
	var (
		req                   producer.CampaignRequest
		rate, startAt, format string
		dryRun, detach        bool
	)
	cmd := &cobra.Command{
		Use:   "start FILE --provider P",
		Short: "Import a file of users and start resetting them",
		Long: "Import a file of users and start resetting them.\n\n" +
			"FILE is CSV with a header row (columns email, username, id; other columns travel as meta)\n" +
			"or JSON lines (.jsonl), or - for standard input. Every row is checked first: a file with invalid\n" +
			"rows is refused with their line numbers unless --skip-invalid; a user listed twice is reset once.\n" +
			"Starting the same file under the same name again resumes that campaign; nobody is reset twice.\n\n" +
			"In a terminal the command then shows the campaign's progress until it ends; Ctrl-C only stops\n" +
			"watching (the workers go on). `resetq campaign status NAME` watches again.",
		Example: "  resetq campaign start users.csv --provider corp --rate 20/s --name breach-2026-11\n" +
			"  resetq campaign start users.csv --provider corp --dry-run\n" +
			"  resetq campaign start users.jsonl --provider corp --spread 6h --start-at 2026-11-23T08:00:00Z",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Provider == "" {
				return usageErr("--provider is required")
			}
			if rate != "" {
				r, err := config.ParseRate(rate)
				if err != nil || r.IsZero() {
					return usageErr("--rate %q must look like 20/s, 600/m or 5/h", rate)
				}
				req.RateN, req.RatePer = r.N, r.Per
			}
			var err error
			if req.StartAt, err = producer.ParseStartAt(startAt, time.Now()); err != nil {
				return campaignErr(err)
			}
			if format != "" && format != "csv" && format != "jsonl" {
				return usageErr("--format must be csv or jsonl, not %q", format)
			}
			req.Format = producer.CampaignFormat(format)
			// The file is read once, holding 12 bytes a row to find the
			// users listed twice: a collector that lets the heap grow to
			// one and a half times that, instead of twice, keeps a million
			// rows' import several megabytes smaller for a few per cent
			// more of its CPU. A GOGC in the environment wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(50)
			}
			src, source, cleanup, err := openSource(args[0])
			if err != nil {
				return err
			}
			defer cleanup()
			req.Source = source
			client, closeRedis, err := g.producerClient()
			if err != nil {
				return err
			}
			defer closeRedis()
			if dryRun {
				scan, err := client.ScanCampaign(src, req)
				if err != nil {
					return campaignErr(err)
				}
				_ = writeOut(g, producer.ScanViewOf(scan), func(w io.Writer) { printScan(w, source, scan) })
				if scan.Invalid > 0 {
					return silent{code: exitFailure}
				}
				return nil
			}
			req.Requester = tasks.Requester{Actor: cliWho()}
			res, err := client.StartCampaign(cmd.Context(), src, req)
			var ire *producer.InvalidRowsError
			if errors.As(err, &ire) {
				_ = writeOut(g, producer.ScanViewOf(ire.Scan), func(w io.Writer) { printScan(w, source, ire.Scan) })
				fmt.Fprintf(g.stderr, "resetq: %v\n", ire)
				return silent{code: exitUsage}
			}
			if err != nil {
				return campaignErr(err)
			}
			if g.output == "json" {
				return writeOut(g, map[string]any{"campaign": producer.ViewOf(res.Campaign), "resumed": res.Resumed,
					"scan": producer.ScanViewOf(res.Scan)}, nil)
			}
			printStarted(g.stdout, res)
			if detach || !isTerminal(g.stdout) {
				printProgressLine(g.stdout, res.Campaign, nil)
				return nil
			}
			return watchCampaign(cmd.Context(), g, client, res.Campaign.ID)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Provider, "provider", "", "provider to reset through (its name in the configuration)")
	f.StringVar(&req.Name, "name", "", "campaign name, [a-z0-9-] (default: the file's name and digest)")
	f.StringVar(&rate, "rate", "", "pace across every worker, like 20/s or 600/m (the provider's rate_limit applies too)")
	f.DurationVar(&req.Spread, "spread", 0, "pace the campaign to take this long, like 6h (instead of --rate)")
	f.StringVar(&startAt, "start-at", "", "start at this RFC 3339 time, or after this long (2h)")
	f.IntVar(&req.Window, "window", 0, "most tasks queued at once (default: two minutes of the pace, 50 to 20000)")
	f.StringArrayVar(&req.Actions, "action", nil, "required action to request (repeatable; default the provider's)")
	f.StringVar(&format, "format", "", "csv or jsonl (default: from the file's extension)")
	f.BoolVar(&req.SkipInvalid, "skip-invalid", false, "record invalid rows as failed instead of refusing the file")
	f.BoolVar(&req.ForceNew, "force-new", false, "start a new campaign even if this file's campaign exists")
	f.BoolVar(&dryRun, "dry-run", false, "check every row and report, storing nothing (exit 1 if any row is invalid)")
	f.BoolVar(&detach, "detach", false, "do not watch the campaign after starting it")
	return cmd
}

// openSource opens a campaign's file, or standard input for "-": the
// import reads it once, from start to end.
func openSource(path string) (io.Reader, string, func(), error) {
	if path == "-" {
		return os.Stdin, "-", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, usageErr("%v", err)
	}
	return f, path, func() { f.Close() }, nil
}

func printScan(w io.Writer, source string, s *producer.Scan) {
	fmt.Fprintf(w, "%s: %d rows, %d users to reset", displayName(source), s.Rows, s.Users())
	if s.Duplicates > 0 {
		fmt.Fprintf(w, ", %d duplicate rows (reset once)", s.Duplicates)
	}
	if s.Invalid > 0 {
		fmt.Fprintf(w, ", %d invalid rows", s.Invalid)
	}
	fmt.Fprintln(w)
	for _, p := range s.Problems {
		fmt.Fprintf(w, "line %d: %s: %s\n", p.Line, p.Reason, p.Detail)
	}
	if listed := len(s.Problems); listed < s.Invalid+s.Duplicates {
		fmt.Fprintf(w, "… and %d more (the first %d are listed)\n", s.Invalid+s.Duplicates-listed, listed)
	}
}

func displayName(source string) string {
	if source == "-" {
		return "standard input"
	}
	return source
}

func printStarted(w io.Writer, res *producer.CampaignStarted) {
	c := res.Campaign
	if res.Resumed {
		fmt.Fprintf(w, "campaign %s already exists for this file (%s since %s); watching it — nobody is reset twice\n",
			c.ID, c.Status, c.CreatedAt.Local().Format(time.DateTime))
		return
	}
	fmt.Fprintf(w, "campaign %s: %d users from %s through %s", c.ID, res.Scan.Users(), displayName(c.Source), c.Provider)
	if res.Scan.Duplicates > 0 {
		fmt.Fprintf(w, ", %d duplicate rows skipped", res.Scan.Duplicates)
	}
	if res.Scan.Invalid > 0 {
		fmt.Fprintf(w, ", %d invalid rows recorded as failed", res.Scan.Invalid)
	}
	fmt.Fprintln(w)
	pace := "the provider's rate limit"
	if r := c.Rate(); r > 0 {
		pace = fmt.Sprintf("%s/s", formatRate(r))
	}
	fmt.Fprintf(w, "pace: %s; at most %d queued at once", pace, c.Window)
	if c.Status == producer.CampaignScheduled {
		fmt.Fprintf(w, "; starts at %s", c.StartAt.Local().Format(time.DateTime))
	}
	fmt.Fprintf(w, "\nthe workers send it; watch with: resetq campaign status %s\n", c.ID)
}

func formatRate(r float64) string {
	switch {
	case r >= 10:
		return fmt.Sprintf("%.0f", r)
	case r >= 1:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.3g", r)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// meter estimates a campaign's pace from its recent progress.
type meter struct {
	samples []sample
}

type sample struct {
	at   time.Time
	done int
}

// add records a reading and returns the rate over the last 30 seconds.
func (m *meter) add(at time.Time, done int) float64 {
	m.samples = append(m.samples, sample{at, done})
	for len(m.samples) > 2 && at.Sub(m.samples[0].at) > 30*time.Second {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	if d := at.Sub(first.at).Seconds(); d > 0 {
		return float64(done-first.done) / d
	}
	return 0
}

func eta(c *producer.Campaign, rate float64) string {
	left := c.Rows - c.Finished()
	switch {
	case left == 0:
		return "done"
	case rate <= 0:
		return "ETA -"
	}
	d := time.Duration(float64(left) / rate * float64(time.Second))
	if d < time.Second {
		return "ETA <1s"
	}
	return "ETA " + d.Round(time.Second).String()
}

func counts(c *producer.Campaign) string {
	return fmt.Sprintf("succeeded %d  skipped %d  failed %d  cancelled %d", c.Succeeded, c.Skipped, c.Failed, c.Cancelled)
}

// printProgressLine writes one plain line about a campaign; m (optional)
// gives its recent pace.
func printProgressLine(w io.Writer, c *producer.Campaign, m *meter) {
	pct := 100.0
	if c.Rows > 0 {
		pct = 100 * float64(c.Finished()) / float64(c.Rows)
	}
	fmt.Fprintf(w, "%s  %s  %d/%d (%.1f%%)", c.ID, c.Status, c.Finished(), c.Rows, pct)
	if m != nil && c.Status == producer.CampaignRunning {
		r := m.add(time.Now(), c.Finished())
		fmt.Fprintf(w, "  %s/s  %s", formatRate(r), eta(c, r))
	}
	fmt.Fprintf(w, "  %s  queued %d\n", counts(c), c.Inflight)
}

// watchCampaign follows a campaign until it ends, with a progress bar in a
// terminal and a plain line every interval elsewhere. Ctrl-C stops watching,
// not the campaign.
func watchCampaign(ctx context.Context, g *global, client *producer.Client, name string) error {
	return watch(ctx, g, client, name, 5*time.Second)
}

func watch(ctx context.Context, g *global, client *producer.Client, name string, every time.Duration) error {
	read := func() (*producer.Campaign, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shortWait)
		defer cancel()
		return client.GetCampaign(rctx, name)
	}
	c, err := read()
	if err != nil {
		return campaignErr(err)
	}
	tty := isTerminal(g.stdout) && g.output == "text"
	var (
		p   *mpb.Progress
		bar *mpb.Bar
		m   meter
		cur = c
	)
	if tty {
		every = 500 * time.Millisecond
		p = mpb.New(mpb.WithOutput(g.stdout), mpb.WithWidth(32), mpb.WithRefreshRate(250*time.Millisecond))
		bar = p.New(int64(max(c.Rows, 1)), mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name(name+" "), decor.Any(func(decor.Statistics) string { return string(cur.Status) }, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(
				decor.CountersNoUnit(" %d/%d"), decor.Percentage(decor.WCSyncSpace),
				decor.Any(func(decor.Statistics) string {
					r := m.add(time.Now(), cur.Finished())
					return fmt.Sprintf("  %s/s  %s  %s", formatRate(r), eta(cur, r), counts(cur))
				})))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		switch {
		case bar != nil:
			bar.SetCurrent(int64(cur.Finished()))
		case g.output == "json":
			_ = writeOut(g, producer.ViewOf(cur), nil)
		default:
			printProgressLine(g.stdout, cur, &m)
		}
		if cur.Done() {
			if bar != nil {
				bar.SetTotal(-1, true)
				p.Wait()
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "campaign %s %s: %s\nreport: resetq campaign report %s --state skipped,failed\n",
					name, cur.Status, counts(cur), name)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if bar != nil {
				bar.Abort(false)
				p.Wait()
			}
			if g.output == "text" {
				fmt.Fprintf(g.stdout, "stopped watching; campaign %s goes on in the workers: resetq campaign status %s\n", name, name)
			}
			return nil
		case <-t.C:
		}
		if c, err := read(); err == nil {
			cur = c
		}
	}
}

func newCampaignStatusCmd(g *global) *cobra.Command {
	var (
		follow   bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a campaign's progress (in a terminal: watch it until it ends)",
		Args:  cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, client *producer.Client, args []string) error {
			if !cmd.Flags().Changed("watch") {
				follow = isTerminal(g.stdout) && g.output == "text"
			}
			if follow {
				return watch(cmd.Context(), g, client, args[0], interval)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), shortWait)
			defer cancel()
			c, err := client.GetCampaign(ctx, args[0])
			if err != nil {
				return campaignErr(err)
			}
			return writeOut(g, producer.ViewOf(c), func(w io.Writer) { printCampaign(w, c) })
		}),
	}
	cmd.Flags().BoolVar(&follow, "watch", false, "follow the campaign until it ends (default: in a terminal)")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "how often a watch prints when not in a terminal")
	return cmd
}

func printCampaign(w io.Writer, c *producer.Campaign) {
	printProgressLine(w, c, nil)
	fmt.Fprintf(w, "provider %s, file %s (sha256 %s…), created %s", c.Provider, displayName(c.Source),
		c.Digest[:min(12, len(c.Digest))], c.CreatedAt.Local().Format(time.DateTime))
	if !c.StartedAt.IsZero() {
		fmt.Fprintf(w, ", started %s", c.StartedAt.Local().Format(time.DateTime))
	} else if !c.StartAt.IsZero() {
		fmt.Fprintf(w, ", starts %s", c.StartAt.Local().Format(time.DateTime))
	}
	if !c.FinishedAt.IsZero() {
		fmt.Fprintf(w, ", finished %s", c.FinishedAt.Local().Format(time.DateTime))
	}
	fmt.Fprintln(w)
	var why []string
	for _, r := range c.Reasons {
		if r.Reason != "" {
			why = append(why, fmt.Sprintf("%s %s %d", r.State, r.Reason, r.N))
		}
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "why: %s\n", strings.Join(why, ", "))
	}
}

func newCampaignListCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List campaigns, newest first",
		Args:  cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, client *producer.Client, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), shortWait)
			defer cancel()
			list, err := client.Campaigns(ctx)
			if err != nil {
				return failErr(err)
			}
			views := []producer.CampaignView{}
			for _, c := range list {
				views = append(views, producer.ViewOf(c))
			}
			return writeOut(g, map[string]any{"campaigns": views}, func(w io.Writer) {
				if len(list) == 0 {
					fmt.Fprintln(w, "no campaigns")
					return
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATUS\tPROVIDER\tDONE\tSUCCEEDED\tSKIPPED\tFAILED\tCANCELLED\tCREATED")
				for _, c := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%s\n", c.ID, c.Status, c.Provider, c.Finished(), c.Rows,
						c.Succeeded, c.Skipped, c.Failed, c.Cancelled, c.CreatedAt.Local().Format(time.DateTime))
				}
				_ = tw.Flush()
			})
		}),
	}
}

func newCampaignControlCmd(g *global, verb string) *cobra.Command {
	short := map[string]string{
		"pause":  "Pause a campaign: its queued resets go back to waiting; resets already with the IdP finish",
		"resume": "Resume a paused campaign where it stopped",
		"cancel": "Cancel a campaign: every user not yet sent ends cancelled (see the report)",
	}[verb]
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, client *producer.Client, args []string) error {
			ctx := cmd.Context()
			var (
				c   *producer.Campaign
				err error
			)
			switch verb {
			case "pause":
				c, err = client.PauseCampaign(ctx, args[0])
			case "resume":
				c, err = client.ResumeCampaign(ctx, args[0])
			default:
				c, err = client.CancelCampaign(ctx, args[0])
			}
			if err != nil {
				return campaignErr(err)
			}
			return writeOut(g, producer.ViewOf(c), func(w io.Writer) { printProgressLine(w, c, nil) })
		}),
	}
}

func newCampaignReportCmd(g *global) *cobra.Command {
	var format, states, out string
	cmd := &cobra.Command{
		Use:   "report NAME",
		Short: "Write every user of a campaign with its outcome, reason, attempts and time",
		Example: "  resetq campaign report breach-2026-11 --state skipped,failed > problems.csv\n" +
			"  resetq campaign report breach-2026-11 --format json --out report.json",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := producer.ParseStates(states)
			if err != nil {
				return campaignErr(err)
			}
			client, closeRedis, err := g.producerClient()
			if err != nil {
				return err
			}
			defer closeRedis()
			w := g.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return usageErr("--out: %v", err)
				}
				defer f.Close()
				w = f
			}
			if err := client.WriteReport(cmd.Context(), args[0], format, st, w); err != nil {
				return campaignErr(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "csv", "csv or json")
	cmd.Flags().StringVar(&states, "state", "", "only rows in these states, like skipped,failed (default all)")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}
