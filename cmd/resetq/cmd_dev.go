package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/resetq/resetq/idp/cognito/cognitotest"
	"github.com/resetq/resetq/idp/firebase/firebasetest"
	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/idp/keygen/keygentest"
	"github.com/resetq/resetq/idp/kratos/kratostest"
	"github.com/resetq/resetq/idp/okta/oktatest"
	"github.com/resetq/resetq/internal/config"
	"github.com/resetq/resetq/internal/listener"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

const (
	devRealm   = "demo"
	devClient  = "resetq"
	devSecret  = "dev-only-client-secret"
	devKeygen  = "licensing"
	devKratos  = "ory"
	devFire    = "app"
	devOkta    = "staff"
	devOktaKey = "00dev-only-okta-api-token-0123456789ab"
	devCognito = "pool"
	devProject = "demo-resetq"
	devAccount = "demo"
)

type devOptions struct {
	users   int
	demo    int
	listen  string
	latency time.Duration
	every   time.Duration
}

func newDevCmd(g *global) *cobra.Command {
	o := devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process against an emulated Keycloak, and watch a demo batch drain",
		Long: "Run resetq with no outside services: an in-process Redis, an emulated Keycloak realm with\n" +
			"sample users (some disabled, one without email, one with a + address), the worker, and the\n" +
			"metrics listener. A demo batch is enqueued and a live summary printed until Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.users < 3 || o.users > 100000 {
				return usageErr("--users must be between 3 and 100000")
			}
			if o.demo < 0 || o.demo > 1000000 {
				return usageErr("--demo must be between 0 and 1000000")
			}
			return runDev(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.users, "users", 50, "sample users in the emulated realm")
	f.IntVar(&o.demo, "demo", 200, "resets to enqueue at start")
	f.StringVar(&o.listen, "listen", "127.0.0.1:9464", "address of /metrics, /healthz and /readyz (falls back to a free port)")
	f.DurationVar(&o.latency, "latency", 15*time.Millisecond, "latency the emulated Keycloak adds to every request")
	f.DurationVar(&o.every, "summary-every", time.Second, "how often the summary line updates")
	return cmd
}

func runDev(ctx context.Context, g *global, o devOptions) error {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return failErr(fmt.Errorf("starting the in-process Redis: %w", err))
	}
	defer mr.Close()

	kc := keycloaktest.NewServer()
	defer kc.Close()
	kc.AddServiceAccount(devRealm, devClient, devSecret)
	sample := kc.AddSampleUsers(devRealm, o.users)
	kc.SetLatency(o.latency)

	kg := keygentest.NewServer()
	defer kg.Close()
	acct := kg.AddAccount(keygentest.Account{Slug: devAccount})
	kgToken := kg.AddAdmin(acct, "admin@demo.example", "dev-only-admin-password")
	kgSample := kg.AddSampleUsers(acct, o.users)
	kg.SetLatency(o.latency)

	kr := kratostest.NewServer()
	defer kr.Close()
	krSample := kr.AddSampleUsers(o.users)
	kr.SetLatency(o.latency)

	fb := firebasetest.NewServer()
	defer fb.Close()
	fbSample := fb.AddSampleUsers(devProject, o.users)
	fb.SetEnumerationProtection(devProject, true)
	fb.SetLatency(o.latency)

	ok := oktatest.NewServer()
	defer ok.Close()
	ok.AddAPIToken(devOktaKey)
	okSample := ok.AddSampleUsers(o.users)
	ok.SetLatency(o.latency)

	cg := cognitotest.NewServer()
	defer cg.Close()
	cgKey := make([]byte, 24)
	_, _ = rand.Read(cgKey)
	cg.AddKey("AKIARESETQDEV", base64.RawURLEncoding.EncodeToString(cgKey))
	cg.TrustAnyKey()
	cgPool := cg.AddPool("demo")
	cgSample := cg.AddSampleUsers(cgPool, o.users)
	cg.SetLatency(o.latency)

	apiKey := make([]byte, 24)
	_, _ = rand.Read(apiKey)
	apiToken := "dev-" + base64.RawURLEncoding.EncodeToString(apiKey)
	// The console's operator: a password of the run's, so the buttons
	// work and nothing else on the machine can press them.
	consoleKey := make([]byte, 12)
	_, _ = rand.Read(consoleKey)
	consolePass := base64.RawURLEncoding.EncodeToString(consoleKey)
	hookKey := make([]byte, 32)
	_, _ = rand.Read(hookKey)
	hookSecret := "whsec_" + base64.StdEncoding.EncodeToString(hookKey)
	var shown atomic.Pointer[summary] // events that arrive before it exists are not printed
	receiver, err := startDevReceiver(hookSecret, func(line string) {
		if s := shown.Load(); s != nil {
			s.event(line)
		}
	})
	if err != nil {
		return failErr(err)
	}
	defer receiver.Close()

	dir, err := os.MkdirTemp("", "resetq-dev-")
	if err != nil {
		return failErr(err)
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "resetq.yaml")
	listen := o.listen
	if !portFree(listen) {
		listen = "127.0.0.1:0"
	}
	yaml := fmt.Sprintf(`# Written by resetq dev; removed when it stops.
redis:
  url: redis://%s/0
worker:
  concurrency: 8
http:
  listen: %q
  auth: {username: dev, password: %q}
log:
  format: text
  level: warn
providers:
  - name: %s
    type: keycloak
    base_url: %s
    realm: %s
    auth:
      client_id: %s
      client_secret: %s
    max_retries: 3
  - name: %s
    type: keygen
    base_url: %s
    account: %s
    token: %s
    verify_user: true
    max_retries: 3
  - name: %s
    type: kratos
    base_url: %s
    admin_url: %s
    verify_user: true
    rate_limit: 50/s
    max_retries: 3
  - name: %s
    type: firebase
    project_id: %s
    emulator_host: %s
    verify_user: true
    max_retries: 3
  - name: %s
    type: okta
    org_url: %s
    api_token: %s
    method: forgot
    max_retries: 3
  - name: %s
    type: cognito
    region: %s
    user_pool_id: %s
    endpoint_url: %s
    credentials_file: %s
    max_retries: 3
api:
  in_worker: true
  tokens:
    - {name: dev, token: %s, scopes: [resets, outcomes, campaigns]}
campaigns:
  feed_interval: 100ms
webhooks:
  retry_schedule: [1s, 5s, 30s]
  endpoints:
    - name: dev
      url: http://%s/webhooks
      secret: %s
      allow_private_networks: true
`, mr.Addr(), listen, consolePass, devRealm, kc.URL(), devRealm, devClient, devSecret, devKeygen, kg.URL(), devAccount, kgToken,
		devKratos, kr.URL(), kr.URL(), devFire, devProject, strings.TrimPrefix(fb.URL(), "http://"), devOkta, ok.URL(), devOktaKey, devCognito, cognitotest.Region, cgPool.ID, cg.URL(), filepath.Join(dir, "aws-credentials"), apiToken, receiver.Addr, hookSecret)
	awsCreds := "[default]\naws_access_key_id = AKIARESETQDEV\naws_secret_access_key = " + base64.RawURLEncoding.EncodeToString(cgKey) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "aws-credentials"), []byte(awsCreds), 0o600); err != nil {
		return failErr(err)
	}
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return failErr(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return failErr(fmt.Errorf("the generated configuration does not load: %w", err))
	}
	rdb, err := openRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	w, err := startWorker(ctx, cfg, rdb, newLogger(cfg.Log, g.stderr))
	if err != nil {
		return err
	}
	defer w.stop()

	client, err := producer.NewClient(producerConfig(cfg, rdb))
	if err != nil {
		return failErr(err)
	}
	out := g.stdout
	fmt.Fprintf(out, "resetq dev: everything in one process, nothing else to install\n\n")
	fmt.Fprintf(out, "  Redis (in-process)  redis://%s/0\n", mr.Addr())
	fmt.Fprintf(out, "  Keycloak emulator   %s  realm %q, %d users, client %q  → provider %s\n", kc.URL(), devRealm, o.users, devClient, devRealm)
	fmt.Fprintf(out, "  Keygen emulator     %s  account %q, %d users, admin token  → provider %s\n", kg.URL(), devAccount, o.users, devKeygen)
	fmt.Fprintf(out, "  Kratos emulator     %s  %d identities, recovery by link  → provider %s\n", kr.URL(), o.users, devKratos)
	fmt.Fprintf(out, "  Okta emulator       %s  %d users, API token, forgot-password mails  → provider %s\n", ok.URL(), o.users, devOkta)
	fmt.Fprintf(out, "  Cognito emulator    %s  user pool %s, %d users, AdminResetUserPassword  → provider %s\n", cg.URL(), cgPool.ID, o.users, devCognito)
	fmt.Fprintf(out, "  Firebase emulator   %s  project %q, %d users, email enumeration protection on  → provider %s\n", fb.URL(), devProject, o.users, devFire)
	fmt.Fprintf(out, "  metrics             http://%s/metrics  (also /healthz, /readyz)\n", w.listener.Addr)
	fmt.Fprintf(out, "  console             http://%s/console/  user dev, password %s\n", w.listener.Addr, consolePass)
	fmt.Fprintf(out, "  HTTP API            http://%s/v1/  bearer token %s\n", w.listener.Addr, apiToken)
	fmt.Fprintf(out, "  webhook receiver    http://%s/webhooks  verifies every event's signature and prints it\n", receiver.Addr)
	fmt.Fprintf(out, "  configuration       %s\n", cfgPath)
	usersCSV := filepath.Join(dir, "users.csv")
	if err := writeDevUsers(usersCSV, sample); err != nil {
		return failErr(err)
	}
	fmt.Fprintf(out, "  sample users        %s  (for a campaign)\n\n", usersCSV)

	fmt.Fprintf(out, "Enqueuing %d demo resets over the six providers. Most succeed (banned Keygen users too, as Keygen resets them).\n"+
		"Skipped: disabled Keycloak users, inactive Kratos identities, disabled Firebase accounts, suspended Okta users, disabled Cognito users, the user without an email, unknown addresses, and (on %s) a second\n"+
		"reset of a user within the hour, which on Keygen would cancel the link already sent. Try one yourself from another terminal:\n\n"+
		"  go run ./cmd/resetq enqueue --config %s --provider %s --email %s --wait\n\n"+
		"or a campaign over every sample user, at 10 a second, with a progress bar:\n\n"+
		"  go run ./cmd/resetq campaign start %s --config %s --provider %s --rate 10/s --name demo\n\n"+
		"or the HTTP API:\n\n"+
		"  curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"+
		"       -d '{\"provider\":\"%s\",\"user\":{\"email\":\"%s\"}}' http://%s/v1/resets\n\n"+
		"Ctrl-C stops.\n\n", o.demo, devKeygen, cfgPath, devRealm, sample.Emails[len(sample.Emails)/2],
		usersCSV, cfgPath, devRealm, apiToken, devRealm, sample.Emails[len(sample.Emails)/3], w.listener.Addr)
	s := newSummary(w.registry, rdb, []string{tasks.QueueName(devRealm), tasks.QueueName(devKeygen), tasks.QueueName(devKratos), tasks.QueueName(devFire), tasks.QueueName(devOkta), tasks.QueueName(devCognito)}, out)
	shown.Store(s)
	if _, err := enqueueDemo(ctx, client, sample, kgSample, krSample, fbSample, okSample, cgSample, o.demo); err != nil {
		return failErr(err)
	}

	t := time.NewTicker(o.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.print(true)
			fmt.Fprintf(out, "emulated Keycloak sent %d emails using %d token requests; emulated Keygen sent %d emails; emulated Kratos %d; emulated Firebase %d; emulated Okta %d; emulated Cognito %d\n",
				kc.TotalResets(), kc.TokenRequests(), kg.Emails(), len(kr.Messages()), len(fb.OobCodes(devProject)), len(ok.Mails()), len(cg.Codes()))
			return nil
		case <-t.C:
			s.print(false)
		}
	}
}

// writeDevUsers writes the sample realm's users as a campaign file, with a
// department column that travels as meta.
func writeDevUsers(path string, s keycloaktest.Sample) error {
	var b strings.Builder
	b.WriteString("email,department\n")
	for i, e := range s.Emails {
		fmt.Fprintf(&b, "%s,%s\n", e, []string{"eng", "sales", "ops"}[i%3])
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// enqueueDemo enqueues a batch that shows every outcome, spread over the
// providers: resets of real users, and skips for disabled users, a user
// without an email, and addresses nobody has.
func enqueueDemo(ctx context.Context, c *producer.Client, kc keycloaktest.Sample, kg keygentest.Sample, kr kratostest.Sample, fb firebasetest.Sample, okt oktatest.Sample, cgs cognitotest.Sample, n int) (int, error) {
	for i := range n {
		provider, u := devRealm, demoUser(i, kc.Emails, kc.Disabled)
		switch {
		case i == 0:
			u = tasks.User{Email: kc.Plus}
		case i == 2:
			u = tasks.User{Username: kc.NoEmail}
		case i%6 == 5:
			provider, u = devFire, demoUser(i, fb.Emails, fb.Disabled)
		case i%6 == 3:
			provider, u = devOkta, demoUser(i, okt.Emails, okt.Suspended)
		case i%10 == 7:
			provider, u = devCognito, demoUser(i, cgs.Emails, cgs.Disabled)
		case i%3 == 2:
			provider, u = devKratos, demoUser(i, kr.Emails, kr.Inactive)
		case i%2 == 1:
			provider, u = devKeygen, demoUser(i, kg.Emails, kg.Banned)
		}
		_, err := c.Enqueue(ctx, producer.Request{Provider: provider, User: u,
			IdempotencyKey: fmt.Sprintf("demo-%d", i), Meta: map[string]string{"source": "resetq dev"},
			Requester: tasks.Requester{Actor: "app:resetq-dev-demo"}})
		if err != nil {
			return i, err
		}
	}
	return n, nil
}

// demoUser is the i-th demo user of a provider's sample: now and then an
// address nobody has or a user the IdP treats apart (off: disabled,
// banned, inactive), else one of its users.
func demoUser(i int, emails, off []string) tasks.User {
	switch {
	case i%25 == 24:
		return tasks.User{Email: fmt.Sprintf("nobody-%d@example.com", i)}
	case i%15 == 14 && len(off) > 0:
		return tasks.User{Email: off[i%len(off)]}
	}
	return tasks.User{Email: emails[i%len(emails)]}
}

// summary prints a one-line view of the outcomes so far, and the events
// the dev receiver gets above it.
type summary struct {
	mu     sync.Mutex
	last   string
	g      prometheus.Gatherer
	insp   *asynq.Inspector
	queues []string
	w      io.Writer
	tty    bool
	done   float64
	lastAt time.Time
	start  time.Time
}

func newSummary(g prometheus.Gatherer, rdb redis.UniversalClient, queues []string, w io.Writer) *summary {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	return &summary{g: g, insp: asynq.NewInspectorFromRedisClient(rdb), queues: queues, w: w, tty: tty, lastAt: now, start: now}
}

func (s *summary) print(final bool) {
	counts := map[string]float64{}
	mfs, _ := s.g.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "resetq_resets_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					counts[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	done := counts["succeeded"] + counts["skipped"] + counts["failed"]
	now := time.Now()
	rate := (done - s.done) / now.Sub(s.lastAt).Seconds()
	s.done, s.lastAt = done, now
	waiting := 0
	for _, q := range s.queues {
		if info, err := s.insp.GetQueueInfo(q); err == nil {
			waiting += info.Pending + info.Active + info.Scheduled + info.Retry
		}
	}
	line := fmt.Sprintf("succeeded %d · skipped %d · failed %d · %.1f/s · waiting %d",
		int(counts["succeeded"]), int(counts["skipped"]), int(counts["failed"]), rate, waiting)
	if final {
		line = fmt.Sprintf("succeeded %d · skipped %d · failed %d in %s",
			int(counts["succeeded"]), int(counts["skipped"]), int(counts["failed"]), now.Sub(s.start).Round(time.Second))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = line
	if s.tty {
		fmt.Fprintf(s.w, "\r\033[K%s", line)
		if final {
			fmt.Fprintln(s.w)
		}
		return
	}
	fmt.Fprintln(s.w, line)
}

// event prints a line above the summary.
func (s *summary) event(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tty {
		fmt.Fprintf(s.w, "\r\033[K%s\n%s", line, s.last)
		return
	}
	fmt.Fprintln(s.w, line)
}

// devReceiver is the webhook receiver of `resetq dev`: it verifies each
// delivery as a real receiver would, with the Standard Webhooks library.
type devReceiver struct {
	Addr string
	srv  *listener.Server
}

func startDevReceiver(secret string, print func(string)) (*devReceiver, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		verdict := "signature ok"
		if err := wh.Verify(body, r.Header); err != nil {
			verdict = "SIGNATURE REJECTED: " + err.Error()
			w.WriteHeader(http.StatusUnauthorized)
		}
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Provider string `json:"provider"`
				TaskID   string `json:"task_id"`
				Reason   string `json:"reason"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		line := fmt.Sprintf("  webhook %-16s %-10s %s", ev.Type, ev.Data.Provider, ev.Data.TaskID)
		if ev.Data.Reason != "" {
			line += " (" + ev.Data.Reason + ")"
		}
		print(line + "  " + verdict)
	})
	srv, err := listener.Start("127.0.0.1:0", h, listener.Limits{})
	if err != nil {
		return nil, err
	}
	return &devReceiver{Addr: srv.Addr, srv: srv}, nil
}

// Close stops the receiver.
func (d *devReceiver) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(ctx)
}

// portFree reports whether addr can be listened on now.
func portFree(addr string) bool {
	if strings.HasSuffix(addr, ":0") {
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}
