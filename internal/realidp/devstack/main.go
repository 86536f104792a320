// Command devstack runs a real Keycloak and Mailpit on this machine, from
// resetq's cache (downloaded and built on first use), for trying resetq
// against them: `make keycloak`.
//
//	devstack [-config resetq.keycloak.yaml] [-redis redis://127.0.0.1:6379/0]
//
// creates realm corp (internal/realidp/testdata/realm-e2e.json) sending its
// mail to Mailpit, starts a redis-server when one is installed and no
// -redis is given, writes a resetq configuration for them, prints where
// everything is and waits for Ctrl-C.
//
//	devstack -exec -- CMD ARGS…
//
// starts Keycloak, runs CMD with RESETQ_KEYCLOAK_URL,
// RESETQ_KEYCLOAK_ADMIN, RESETQ_KEYCLOAK_ADMIN_PASSWORD and
// RESETQ_MAILPIT_BIN in its environment, stops Keycloak and exits with
// CMD's status: `make e2e` shares one Keycloak between test packages that
// way (each test makes its own realm and its own Mailpit).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/realidp"
	"github.com/resetq/resetq/internal/redistest"
)

func main() {
	configPath := flag.String("config", "resetq.keycloak.yaml", "the resetq configuration to write")
	redisURL := flag.String("redis", "", "the Redis the configuration points resetq at (default: a redis-server started here, if installed, else redis://127.0.0.1:6379/0)")
	execMode := flag.Bool("exec", false, "start Keycloak, run the command after -- with its address in the environment, stop it, exit with the command's status")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: devstack [-config FILE] [-redis URL]\n       devstack -exec -- CMD ARGS...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *execMode {
		if flag.NArg() == 0 {
			flag.Usage()
			os.Exit(2)
		}
		os.Exit(runCommand(flag.Args()))
	}
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := serve(*configPath, *redisURL); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

// serve starts both servers, sets up realm corp and the configuration,
// and waits for a signal.
func serve(configPath, redisURL string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	absConfig, err := filepath.Abs(configPath)
	if err != nil {
		return err
	}

	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
		if _, err := exec.LookPath("redis-server"); err == nil {
			dir, err := os.MkdirTemp("", "resetq-devstack-redis-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			srv, err := redistest.New(dir)
			if err != nil {
				return fmt.Errorf("starting redis-server: %w", err)
			}
			defer srv.Stop()
			redisURL = srv.URL(0)
		} else {
			fmt.Fprintln(os.Stderr, "redis-server is not installed: the configuration points at "+redisURL+
				" (apt-get install redis-server, or give -redis URL)")
		}
	}
	fmt.Fprintf(os.Stderr, "Starting Keycloak %s and Mailpit %s (the first run downloads Keycloak and builds Mailpit: a few minutes)…\n",
		realidp.KeycloakVersion, realidp.MailpitVersion)
	start := time.Now()
	mailpitc := make(chan result[*realidp.Mailpit], 1)
	go func() {
		m, err := realidp.StartMailpit(ctx, realidp.MailpitConfig{})
		mailpitc <- result[*realidp.Mailpit]{m, err}
	}()
	kc, kcErr := startKeycloak(ctx)
	mp := <-mailpitc
	if kcErr != nil || mp.err != nil {
		if kc != nil {
			kc.Stop()
		}
		if mp.v != nil {
			mp.v.Stop()
		}
		return errors.Join(kcErr, mp.err)
	}
	defer kc.Stop()
	defer mp.v.Stop()
	fmt.Fprintf(os.Stderr, "Ready after %s.\n", time.Since(start).Round(time.Second))

	realm := realidp.E2ERealm("corp", realidp.SMTP{Host: mp.v.SMTPHost(), Port: mp.v.SMTPPort()})
	if err := kc.CreateRealm(ctx, realm); err != nil {
		return fmt.Errorf("creating realm corp: %w", err)
	}
	if err := writeConfig(absConfig, redisURL, kc.URL()); err != nil {
		return err
	}
	adminUser, adminPassword := kc.Admin()
	rel := configPath
	fmt.Printf(`Keycloak  %s/admin/  (log in as %s / %s; realm corp)
Mailpit   %s  (the mails Keycloak sends land here)
Config    %s  (Redis at %s)
Try, in two terminals:
  go run ./cmd/resetq worker --config %s
  go run ./cmd/resetq enqueue --config %s --provider corp --email alice@example.org --wait 60s
Ctrl-C stops Keycloak, Mailpit and Redis.
`, kc.URL(), adminUser, adminPassword, mp.v.URL(), absConfig, redisURL, rel, rel)

	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "Stopping Keycloak and Mailpit…")
	return nil
}

type result[T any] struct {
	v   T
	err error
}

func startKeycloak(ctx context.Context) (*realidp.Keycloak, error) {
	themes, err := realidp.ThemesDir()
	if err != nil {
		return nil, err
	}
	return realidp.StartKeycloak(ctx, realidp.KeycloakConfig{ThemesDir: themes})
}

// writeConfig writes a resetq configuration for realm corp at baseURL and
// checks it the way resetq will read it.
func writeConfig(path, redisURL, baseURL string) error {
	text := fmt.Sprintf(`# resetq against the Keycloak and Mailpit of `+"`make keycloak`"+`
# (internal/realidp/devstack). They live while it runs, on new ports each
# time: it rewrites this file on every start.
redis:
  url: %q
providers:
  - name: corp
    type: keycloak
    base_url: %q
    realm: corp
    auth:
      client_id: resetq
      client_secret: %q
    rate_limit: 20/s
`, redisURL, baseURL, realidp.E2EClientSecret)
	if _, err := config.Parse(path, []byte(text), func(string) (string, bool) { return "", false }); err != nil {
		return fmt.Errorf("the configuration devstack writes does not load: %w", err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("writing the configuration: %w", err)
	}
	return nil
}

// runCommand starts Keycloak and runs args against it, returning the exit
// status to leave with.
func runCommand(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	mailpit, err := realidp.BuildMailpit(ctx)
	if err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "devstack:", err)
		return 1
	}
	start := time.Now()
	kc, err := startKeycloak(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		return 1
	}
	defer kc.Stop()
	fmt.Fprintf(os.Stderr, "devstack: Keycloak %s at %s, ready after %s; running %s\n",
		realidp.KeycloakVersion, kc.URL(), time.Since(start).Round(time.Second), strings.Join(args, " "))

	adminUser, adminPassword := kc.Admin()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		realidp.EnvKeycloakURL+"="+kc.URL(),
		realidp.EnvKeycloakAdmin+"="+adminUser,
		realidp.EnvKeycloakAdminPassword+"="+adminPassword,
		"RESETQ_MAILPIT_BIN="+mailpit,
	)
	// The command gets a terminal's Ctrl-C itself; a signal sent to
	// devstack alone is passed on. Either way Keycloak is stopped after the
	// command has ended.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		return 1
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	return exitStatus(err)
}

// exitStatus is the status a shell would report for a command that ended
// with err.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "devstack:", err)
	return 1
}
