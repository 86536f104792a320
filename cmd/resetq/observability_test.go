package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/resetq/resetq/idp/keycloak/keycloaktest"
	"github.com/resetq/resetq/internal/dashboards"
	"github.com/resetq/resetq/internal/redistest"
	"github.com/resetq/resetq/producer"
	"github.com/resetq/resetq/tasks"
)

const alertsFile = "../../deploy/prometheus/alerts.yml"

func TestAlertRulesUnitTests(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool comes with Debian's prometheus package (apt-get install prometheus)")
	out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(promtool, "test", "rules", "../../deploy/prometheus/alerts_test.yml").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "SUCCESS")
}

func TestEveryAlertHasARunbookSection(t *testing.T) {
	t.Parallel()
	ops, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	for _, r := range alertRules(t) {
		anchor := strings.ToLower(r.Alert)
		require.Equal(t, "https://github.com/resetq/resetq/blob/main/docs/operations.md#"+anchor, r.Annotations["runbook_url"])
		require.Contains(t, string(ops), "### "+r.Alert+"\n", "docs/operations.md has a runbook for %s", r.Alert)
		require.NotEmpty(t, r.For, r.Alert)
		require.Contains(t, []string{"page", "ticket"}, r.Labels["severity"], r.Alert)
		require.NotEmpty(t, r.Annotations["summary"], r.Alert)
		require.NotEmpty(t, r.Annotations["description"], r.Alert)
	}
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	require.NoError(t, err)
	var doc struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	var out []alertRule
	for _, g := range doc.Groups {
		out = append(out, g.Rules...)
	}
	require.Len(t, out, 11)
	return out
}

// TestDashboardAndAlertsAgainstARealPrometheus runs a real worker through a
// few hundred resets — some skipped, some retried, one provider halted,
// webhooks retried, rate-limit waits — lets a real Prometheus scrape it, and
// then evaluates every dashboard query and every alert expression through
// Prometheus's HTTP API: each must parse, and each panel must return data.
func TestDashboardAndAlertsAgainstARealPrometheus(t *testing.T) {
	t.Parallel()
	promBin, err := exec.LookPath("prometheus")
	require.NoError(t, err, "the test runs Debian's prometheus (apt-get install prometheus)")
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err)

	r := redistest.Start(t)
	kc := keycloaktest.NewServer()
	t.Cleanup(kc.Close)
	kc.AddServiceAccount("corp", "resetq", testSecret)
	kc.AddServiceAccount("staff", "resetq", testSecret)
	sample := kc.AddSampleUsers("corp", 200)
	staff := kc.AddSampleUsers("staff", 10)
	kc.SetSMTP("staff", keycloaktest.SMTPOff) // halts on the first reset
	kc.FailNext(keycloaktest.EndpointExecuteActions, 20, 503, "")
	hooks := newHookReceiver(t)
	hooks.fail = 5

	c, w := startFromYAML(t, fmt.Sprintf(`redis: {url: %q}
worker: {concurrency: 10, poll_interval: 20ms}
http: {listen: "127.0.0.1:0"}
providers:
  - {name: corp, type: keycloak, base_url: %q, realm: corp, rate_limit: 100/s, auth: {client_id: resetq, client_secret: %s}}
  - {name: staff, type: keycloak, base_url: %q, realm: staff, auth: {client_id: resetq, client_secret: %s}}
%s`, r.URL(0), kc.URL(), testSecret, kc.URL(), testSecret, hooks.section("[200ms, 500ms, 1s]")))
	client := c.client

	// A campaign scheduled for later stays unfinished, so its panels have
	// data.
	_, err = client.StartCampaign(context.Background(), strings.NewReader("email\n"+strings.Join(sample.Emails[:50], "\n")+"\n"),
		producer.CampaignRequest{Name: "later", Provider: "corp", StartAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)

	prom := startPrometheus(t, promBin, w.listener.Addr)
	// Counters must be seen before they grow, or rate() has nothing to see.
	eventually(t, 30*time.Second, func() bool {
		v := prom.query(t, `count_over_time(resetq_build_info[1m])`)
		return len(v) == 1 && v[0] >= 2
	}, "Prometheus scraped the idle worker")

	// The workload: 300 resets on corp (a tenth skipped), 5 on staff (halted).
	var ids []string
	for i := range 300 {
		u := tasks.User{Email: sample.Emails[i%len(sample.Emails)]}
		if i%10 == 0 {
			u = tasks.User{Email: fmt.Sprintf("nobody-%d@example.com", i)}
		}
		res, err := client.Enqueue(context.Background(), producer.Request{Provider: "corp", User: u, IdempotencyKey: fmt.Sprint(i)})
		require.NoError(t, err)
		ids = append(ids, res.TaskID)
	}
	for i, e := range staff.Emails[:5] {
		_, err := client.Enqueue(context.Background(), producer.Request{Provider: "staff", User: tasks.User{Email: e}, IdempotencyKey: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, id := range ids {
		_, err := client.Wait(ctx, id)
		require.NoError(t, err)
	}
	eventually(t, 30*time.Second, func() bool { return len(hooks.received()) >= 305 }, "webhooks delivered")

	// Let Prometheus scrape the end of the run a few times.
	eventually(t, 30*time.Second, func() bool {
		v := prom.query(t, `count_over_time(resetq_build_info[1m])`)
		return len(v) == 1 && v[0] >= 8
	}, "Prometheus scraped the worker")
	eventually(t, 10*time.Second, func() bool {
		v := prom.query(t, `max(resetq_provider_halted{provider="staff"})`)
		return len(v) == 1 && v[0] == 1
	}, "the halt was scraped")

	expand := strings.NewReplacer("$__rate_interval", "1m", `"$provider"`, `".*"`, `"$queue"`, `".*"`, `"$campaign"`, `".*"`)
	for _, q := range dashboards.Queries() {
		values := prom.query(t, expand.Replace(q))
		require.NotEmpty(t, values, "the panel query returned no data: %s", q)
		finite := false
		for _, v := range values {
			finite = finite || !math.IsNaN(v)
		}
		require.True(t, finite, "the panel query returned only NaN: %s", q)
	}
	for _, rule := range alertRules(t) {
		prom.query(t, rule.Expr) // must parse and evaluate
	}
	// The rules are evaluated once a second, after the scrape that saw the
	// halt.
	eventually(t, 10*time.Second, func() bool {
		return len(prom.query(t, `ALERTS{alertname="ResetqProviderHalted", provider="staff"}`)) > 0
	}, "the halted provider's alert is pending or firing")

	// promtool check metrics on the live /metrics.
	res, err := http.Get("http://" + w.listener.Addr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "lint problems: %s", out)
}

type promServer struct{ base string }

func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(alertsFile)
	require.NoError(t, err)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: resetq
    static_configs: [{targets: [%q]}]
`, rules, target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	var logs syncBuffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &promServer{base: "http://" + addr}
	eventually(t, 30*time.Second, func() bool {
		res, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, "prometheus ready: %s", &logs)
	return p
}

// query runs an instant query and returns the values of its samples.
func (p *promServer) query(t *testing.T, q string) []float64 {
	t.Helper()
	res, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer res.Body.Close()
	var out struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	require.Equal(t, "success", out.Status, "%s: %s %s", q, out.ErrorType, out.Error)
	var values []float64
	for _, r := range out.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		values = append(values, v)
	}
	return values
}
