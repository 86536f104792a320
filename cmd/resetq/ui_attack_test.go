package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
)

// attackPages are pages on another site that try, with the operator's
// browser and the credentials it holds for the UI, to pause a queue and
// delete a waiting reset: by fetch and by a form posted into a frame (the
// first page, which says "done" in its title when both were sent), and by
// forms that post the page itself to the UI, as a link in a mail would.
var attackPages = map[string]string{
	"/": `<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="frame" method="POST" target="sink" action="{{UI}}/ui/api/queues/resetq-partners:pause"></form>
<script>
(async () => {
  const ui = "{{UI}}";
  await fetch(ui + "/ui/api/queues/resetq-corp:pause", {method: "POST", mode: "no-cors", credentials: "include"}).catch(() => {});
  await fetch(ui + "/ui/api/queues/resetq-corp/scheduled_tasks:batch_delete", {method: "POST", mode: "no-cors",
    credentials: "include", headers: {"Content-Type": "text/plain"}, body: JSON.stringify({task_ids: ["{{TASK}}"]})}).catch(() => {});
  const loaded = new Promise(r => document.getElementById("sink").onload = r);
  document.getElementById("frame").submit();
  await loaded;
  document.title = "done";
})();
</script></body></html>`,
	"/pause": `<!doctype html><html><body>
<form id="f" method="POST" action="{{UI}}/ui/api/queues/resetq-corp:pause"></form>
<script>document.getElementById("f").submit()</script></body></html>`,
	"/delete": `<!doctype html><html><body>
<form id="f" method="POST" enctype="text/plain" action="{{UI}}/ui/api/queues/resetq-corp/scheduled_tasks:batch_delete">
<input name='{"task_ids":["{{TASK}}"]}' value=''></form>
<script>document.getElementById("f").submit()</script></body></html>`,
}

// TestQueueUICannotBeDrivenFromAnotherSite opens the writable UI in
// headless Chromium with the operator's password, pauses a queue with
// the UI's own Pause button, then visits a page on another site that
// tries to pause queues and delete a waiting reset with the credentials
// the browser now holds. Nothing it tries changes anything.
func TestQueueUICannotBeDrivenFromAnotherSite(t *testing.T) {
	t.Parallel()
	w, _, rdb := uiWorkerRedis(t, "http: {listen: \"127.0.0.1:0\", ui_read_only: false, auth: {username: ops, password: correct-horse}}\n")
	insp := asynq.NewInspectorFromRedisClient(rdb)
	// A reset waiting for later, for the attacker to try to delete.
	ac := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = ac.Close() })
	p := tasks.Payload{V: tasks.PayloadVersion, Requester: tasks.Requester{Actor: "app:test"}, Provider: "corp", User: tasks.User{Email: "waiting@example.com"},
		Actions: []string{"UPDATE_PASSWORD"}, Meta: map[string]string{}, RequestedAt: time.Now().UTC()}
	body, err := p.Encode()
	require.NoError(t, err)
	waiting, err := ac.Enqueue(asynq.NewTask(tasks.TypeReset, body), asynq.Queue(tasks.QueueName("corp")), asynq.ProcessIn(time.Hour))
	require.NoError(t, err)

	ui := "http://" + w.listener.Addr
	attacker := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write([]byte(strings.NewReplacer("{{UI}}", ui, "{{TASK}}", waiting.ID).Replace(attackPages[r.URL.Path])))
	}))
	t.Cleanup(attacker.Close)
	// localhost and 127.0.0.1 are two sites to the browser.
	attackerURL := strings.Replace(attacker.URL, "127.0.0.1", "localhost", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := startBrowser(t)
	paused := func(q string) bool {
		info, err := insp.GetQueueInfo(tasks.QueueName(q))
		require.NoError(t, err)
		return info.Paused
	}

	// The operator signs in and pauses resetq-staff with the UI's button,
	// which shows on hovering the row's last cell.
	op := b.open(ctx, "http://ops:correct-horse@"+w.listener.Addr+"/ui/")
	op.waitFor(ctx, `document.body && document.body.innerText.includes("resetq-staff")`, "the UI lists the queues")
	require.NoError(t, op.eval(ctx, `(() => {
		const row = [...document.querySelectorAll("tr")].find(r => r.querySelector("th") && r.querySelector("th").innerText === "resetq-staff");
		const cell = row.lastElementChild;
		cell.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
	})()`, nil))
	op.waitFor(ctx, `!!document.querySelector('button[title="Pause"]')`, "the Pause button shows")
	require.NoError(t, op.eval(ctx, `document.querySelector('button[title="Pause"]').click()`, nil))
	eventually(t, 20*time.Second, func() bool { return paused("staff") }, "the UI's own button paused resetq-staff")

	deleted := func() bool {
		_, err := insp.GetTaskInfo(tasks.QueueName("corp"), waiting.ID)
		return err != nil
	}

	// The operator, still signed in, visits another site.
	evil := b.open(ctx, attackerURL+"/")
	evil.waitFor(ctx, `document.title === "done"`, "the attack page ran")
	// The forms that post the page itself: the browser shows the UI's
	// refusal, or the attack did what it meant to.
	for path, done := range map[string]func() bool{"/pause": func() bool { return paused("corp") }, "/delete": deleted} {
		evil := b.open(ctx, attackerURL+path)
		eventually(t, 30*time.Second, func() bool {
			u, err := evil.url(ctx)
			require.NoError(t, err)
			return strings.HasPrefix(u, ui) || done()
		}, "the form of %s was posted", path)
	}

	require.False(t, paused("corp"), "a page of another site paused resetq-corp")
	require.False(t, paused("partners"), "a page of another site paused resetq-partners")
	require.False(t, deleted(), "a page of another site deleted the waiting reset")

	// The UI still answers its own page. (The page's own URL holds the
	// credentials, so fetch wants a URL without them.)
	var n int
	require.NoError(t, op.eval(ctx, `fetch("`+ui+`/ui/api/queues").then(r => r.json()).then(j => j.queues.length)`, &n))
	require.Equal(t, 3, n)
}
