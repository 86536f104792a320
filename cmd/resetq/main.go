package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/resetq/resetq/internal/audit"
	"github.com/resetq/resetq/tasks"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // something went wrong, or the reset did not succeed
	exitUsage   = 2 // bad flags, bad input or bad configuration
	exitTimeout = 3 // --wait ran out before the reset ended
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func failErr(err error) error { return &exitError{code: exitFailure, err: err} }

// silent ends a command with a code after it printed its own report.
type silent struct{ code int }

func (s silent) Error() string { return fmt.Sprintf("exit %d", s.code) }

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// What a command does, it does in the name of whoever runs it.
	ctx = audit.WithActor(ctx, tasks.Requester{Actor: cliWho()})
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var s silent
	if errors.As(err, &s) {
		return s.code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintf(stderr, "resetq: %v\n", ee.err)
		return ee.code
	}
	// Anything else comes from cobra itself: an unknown command or flag, or
	// a wrong number of arguments.
	fmt.Fprintf(stderr, "resetq: %v\nRun 'resetq --help' for usage.\n", err)
	return exitUsage
}

// global holds the flags every command shares.
type global struct {
	config string
	output string
	stdout io.Writer
	stderr io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &global{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "resetq",
		Short: "Queue-driven password resets through identity providers",
		Long: "resetq sends password resets through identity providers (Keycloak today) from a queue in Redis,\n" +
			"with backoff, halting on configuration errors, Prometheus metrics and outcomes you can wait for.\n\n" +
			"Start with `resetq dev` to watch it work against an emulated Keycloak with nothing else installed.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "text" && g.output != "json" {
				return usageErr("--output must be text or json, not %q", g.output)
			}
			return nil
		},
	}
	def := os.Getenv("RESETQ_CONFIG")
	if def == "" {
		def = "resetq.yaml"
	}
	root.PersistentFlags().StringVar(&g.config, "config", def, "configuration file (default $RESETQ_CONFIG, else ./resetq.yaml)")
	root.PersistentFlags().StringVar(&g.output, "output", "text", "output format: text or json")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	root.AddCommand(
		newWorkerCmd(g),
		newEnqueueCmd(g),
		newProviderCmd(g),
		newWebhookCmd(g),
		newCampaignCmd(g),
		newAuditCmd(g),
		newAPICmd(g),
		newEmulatorCmd(g),
		newDevCmd(g),
		newVersionCmd(g),
	)
	return root
}

// withSubcommands gives a command group its subcommands.
func withSubcommands(group *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	group.AddCommand(subs...)
	return group
}
