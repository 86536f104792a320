package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

func newEnqueueCmd(g *global) *cobra.Command {
	var (
		req     producer.Request
		meta    []string
		wait    time.Duration
		userRef tasks.User
	)
	cmd := &cobra.Command{
		Use:   "enqueue --provider P (--email E | --username U | --user-id ID)",
		Short: "Enqueue one password reset and print its task id",
		Long: "Enqueue one password reset and print its task id.\n\n" +
			"With --wait, block until the reset ends and exit 0 only if it succeeded\n" +
			"(1: skipped or failed, 3: still waiting when --wait ran out).\n\n" +
			"Repeating a request with the same --idempotency-key enqueues nothing new and reports\n" +
			"a duplicate; using the key for a different request (another user, actions or meta)\n" +
			"is refused with exit 2. Keys given here and through the Go client share one scope;\n" +
			"each API token has its own.",
		Example: "  resetq enqueue --provider corp --email alice@example.com --idempotency-key HD-4411 --wait\n" +
			"  resetq enqueue --provider corp --username alice --meta ticket=HD-4411 --output json",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// --wait takes an optional value, which pflag only reads as
			// --wait=D; accept the natural --wait D as well.
			if len(args) == 1 && cmd.Flags().Changed("wait") {
				if d, err := time.ParseDuration(args[0]); err == nil {
					wait, args = d, nil
				}
			}
			if len(args) > 0 {
				return usageErr("unexpected argument %q (the user goes in --email, --username or --user-id)", args[0])
			}
			if wait <= 0 {
				return usageErr("--wait must be a positive duration like 30s or 5m")
			}
			if req.Provider == "" {
				return usageErr("--provider is required")
			}
			if userRef.Kind() == "" {
				return usageErr("give exactly one of --email, --username or --user-id")
			}
			req.User = userRef
			for _, kv := range meta {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageErr("--meta %q must be key=value", kv)
				}
				if req.Meta == nil {
					req.Meta = map[string]string{}
				}
				req.Meta[k] = v
			}
			client, closeRedis, err := g.producerClient()
			if err != nil {
				return err
			}
			defer closeRedis()
			req.Requester = tasks.Requester{Actor: cliWho()}
			ctx, cancel := context.WithTimeout(cmd.Context(), shortWait)
			res, err := client.Enqueue(ctx, req)
			cancel()
			if errors.Is(err, producer.ErrInvalidRequest) {
				return usageErr("%v", strings.TrimPrefix(err.Error(), producer.ErrInvalidRequest.Error()+": "))
			}
			if errors.Is(err, producer.ErrIdempotencyConflict) {
				// The same command would be refused again: it is the input
				// (the key) that has to change.
				return usageErr("%v (nothing was enqueued)", strings.TrimPrefix(err.Error(), producer.ErrIdempotencyConflict.Error()+": "))
			}
			if err != nil {
				return failErr(err)
			}
			if !cmd.Flags().Changed("wait") {
				return printEnqueued(g, res, nil)
			}
			if g.output == "text" {
				_ = printEnqueued(g, res, nil)
			}
			wctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			r, err := client.Wait(wctx, res.TaskID)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				return waitTimedOut(cmd.Context(), g, client, res, wait)
			case err != nil:
				return failErr(err)
			}
			if g.output == "json" {
				_ = printEnqueued(g, res, r)
			} else {
				printResult(g.stdout, r)
			}
			if r.Outcome != tasks.Succeeded {
				return silent{code: exitFailure}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Provider, "provider", "", "provider to reset through (its name in the configuration)")
	f.StringVar(&userRef.Email, "email", "", "the user's email address")
	f.StringVar(&userRef.Username, "username", "", "the user's username")
	f.StringVar(&userRef.ID, "user-id", "", "the user's id in the identity provider")
	f.StringArrayVar(&req.Actions, "action", nil, "required action to request (repeatable; default UPDATE_PASSWORD)")
	f.StringVar(&req.IdempotencyKey, "idempotency-key", "", "makes the request safe to repeat: the same key never sends two emails; "+
		"reusing it for another user, actions or meta is refused")
	f.StringArrayVar(&meta, "meta", nil, "key=value carried to the outcome (repeatable)")
	f.DurationVar(&wait, "wait", 5*time.Minute, "wait up to this long for the outcome (--wait alone: 5m)")
	f.Lookup("wait").NoOptDefVal = "5m"
	return cmd
}

type enqueueOutput struct {
	TaskID     string    `json:"task_id"`
	Queue      string    `json:"queue"`
	Duplicate  bool      `json:"duplicate"`
	Outcome    string    `json:"outcome,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	State      string    `json:"state,omitempty"`
	Halted     string    `json:"halted,omitempty"`
	// Requester is who asked: this command line's user and host.
	Requester tasks.Requester `json:"requester"`
}

func printEnqueued(g *global, res producer.Enqueued, r *tasks.Result) error {
	out := enqueueOutput{TaskID: res.TaskID, Queue: res.Queue, Duplicate: res.Duplicate, Requester: tasks.Requester{Actor: cliWho()}}
	if r != nil {
		out.Outcome, out.Reason, out.Error, out.Attempts, out.FinishedAt = string(r.Outcome), r.Reason, r.Error, r.Attempts, r.FinishedAt
		out.Requester = r.Requester
	}
	return writeOut(g, out, func(w io.Writer) {
		if res.Duplicate {
			fmt.Fprintf(w, "%s (duplicate: a reset with this idempotency key already exists; nothing new was enqueued)\n", res.TaskID)
			return
		}
		fmt.Fprintf(w, "%s enqueued on %s\n", res.TaskID, res.Queue)
	})
}

func printResult(w io.Writer, r *tasks.Result) {
	plural := "s"
	if r.Attempts == 1 {
		plural = ""
	}
	switch r.Outcome {
	case tasks.Succeeded:
		fmt.Fprintf(w, "succeeded after %d attempt%s: the identity provider sent the email\n", r.Attempts, plural)
	default:
		fmt.Fprintf(w, "%s (%s) after %d attempt%s", r.Outcome, r.Reason, r.Attempts, plural)
		if r.Error != "" {
			fmt.Fprintf(w, ": %s", r.Error)
		}
		fmt.Fprintln(w)
	}
}

// waitTimedOut says where the task stands when --wait runs out.
func waitTimedOut(ctx context.Context, g *global, client *producer.Client, res producer.Enqueued, wait time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	st, err := client.Status(sctx, res.TaskID)
	out := enqueueOutput{TaskID: res.TaskID, Queue: res.Queue, Duplicate: res.Duplicate, Requester: tasks.Requester{Actor: cliWho()}}
	if err == nil {
		out.State = st.State
		if st.Halt != nil {
			out.Halted = st.Halt.Reason + ": " + st.Halt.Hint
		}
	}
	_ = writeOut(g, out, func(w io.Writer) {
		fmt.Fprintf(w, "no outcome within %s; the task is still queued", wait)
		if err == nil {
			fmt.Fprintf(w, " (state %s", st.State)
			if st.Retried > 0 {
				fmt.Fprintf(w, ", %d failed attempts, last: %s", st.Retried, st.LastError)
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintln(w)
		if err == nil && st.Halt != nil {
			fmt.Fprintf(w, "provider %s is halted since %s: %s\nfix it, then run: resetq provider resume %s\n",
				st.Provider, st.Halt.Since.Format(time.RFC3339), st.Halt.Hint, st.Provider)
		}
	})
	return silent{code: exitTimeout}
}

// writeOut prints v as JSON with --output json, or runs text otherwise.
func writeOut(g *global, v any, text func(io.Writer)) error {
	if g.output == "json" {
		enc := json.NewEncoder(g.stdout)
		return enc.Encode(v)
	}
	text(g.stdout)
	return nil
}

// redactURL hides a password in a Redis URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
