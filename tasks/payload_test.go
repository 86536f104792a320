package tasks_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/tasks"
)

func validPayload() tasks.Payload {
	return tasks.Payload{
		V:           1,
		Provider:    "corp",
		User:        tasks.User{Email: "alice@example.com"},
		Actions:     []string{"UPDATE_PASSWORD"},
		Meta:        map[string]string{"ticket": "HD-4411"},
		RequestedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	}
}

func TestEncodeWritesTheDesignShape(t *testing.T) {
	t.Parallel()
	p := validPayload()
	b, err := p.Encode()
	require.NoError(t, err)
	require.JSONEq(t, `{"v":1,"provider":"corp","user":{"email":"alice@example.com"},
		"actions":["UPDATE_PASSWORD"],"campaign":"","campaign_row":0,"idempotency_key":"",
		"meta":{"ticket":"HD-4411"},"requested_at":"2026-11-22T10:00:00Z"}`, string(b))

	back, err := tasks.Decode(b)
	require.NoError(t, err)
	require.Equal(t, p, *back)
}

func TestACampaignTaskCarriesItsRow(t *testing.T) {
	t.Parallel()
	p := validPayload()
	p.Campaign, p.CampaignRow = "breach-2026", 41
	b, err := p.Encode()
	require.NoError(t, err)
	require.Contains(t, string(b), `"campaign":"breach-2026","campaign_row":41`)
	back, err := tasks.Decode(b)
	require.NoError(t, err)
	require.Equal(t, 41, back.CampaignRow)

	// A campaign task queued by a build before campaign_row has no such
	// field (its row is in a header): it still decodes.
	old := `{"v":1,"provider":"corp","user":{"email":"a@example.com"},"actions":[],"campaign":"breach-2026",` +
		`"idempotency_key":"","meta":{},"requested_at":"2026-11-22T10:00:00Z"}`
	back, err = tasks.Decode([]byte(old))
	require.NoError(t, err)
	require.Equal(t, "breach-2026", back.Campaign)
	require.Zero(t, back.CampaignRow)
}

// Who asked travels beside the payload, in a header a worker of an
// earlier build ignores; a task without it (queued before requesters were
// recorded) runs with none, and so does one whose header cannot be read. A
// payload from a newer build is told apart from a bad one.
func TestTheRequesterTravelsInAHeader(t *testing.T) {
	t.Parallel()
	p := validPayload()
	p.Requester = tasks.Requester{Actor: "api:helpdesk", Address: "10.0.0.4"}
	task, err := tasks.NewResetTask(&p, tasks.TaskSettings{ID: tasks.RandomTaskID()})
	require.NoError(t, err)
	require.JSONEq(t, `{"actor":"api:helpdesk","address":"10.0.0.4"}`, task.Task.Headers()[tasks.RequesterHeader])
	require.NotContains(t, string(task.Task.Payload()), "helpdesk", "the payload stays version 1")
	require.Equal(t, p.Requester, tasks.RequesterOf(task.Task.Headers()))

	p.Requester = tasks.Requester{}
	task, err = tasks.NewResetTask(&p, tasks.TaskSettings{ID: tasks.RandomTaskID()})
	require.NoError(t, err)
	require.Empty(t, task.Task.Headers())
	require.Zero(t, tasks.RequesterOf(nil))
	require.Equal(t, "unknown", tasks.RequesterOf(nil).String())
	for _, bad := range []string{`not json`, `{"actor":"cli:ops\u001b[2J@host"}`, `{"actor":"` + strings.Repeat("a", 201) + `"}`} {
		require.Zero(t, tasks.RequesterOf(map[string]string{tasks.RequesterHeader: bad}), bad)
	}
	// A kind this build does not know is taken as it is: a worker never
	// fails a task for whoever asked.
	require.Equal(t, tasks.Requester{Actor: "sso:okta-workflow"},
		tasks.RequesterOf(map[string]string{tasks.RequesterHeader: `{"actor":"sso:okta-workflow"}`}))

	for _, newer := range []string{
		`{"v":2,"provider":"corp","user":{"email":"a@example.com"},"requested_at":"2026-11-22T10:00:00Z"}`,
		`{"v":2,"provider":"corp","user":{"email":"a@example.com"},"a_field_of_v2":true}`,
	} {
		_, err = tasks.Decode([]byte(newer))
		require.ErrorIs(t, err, tasks.ErrNewerPayload, newer)
	}
	_, err = tasks.Decode([]byte(`{"v":1,"provider":"corp","unknown":1}`))
	require.Error(t, err)
	require.NotErrorIs(t, err, tasks.ErrNewerPayload, "an unknown field in a version this build reads is a bad task")

	require.Equal(t, "api:helpdesk (10.0.0.4)", tasks.Requester{Actor: "api:helpdesk", Address: "10.0.0.4"}.String())
	require.Equal(t, "cli:ops@bastion", tasks.Requester{Actor: "cli:ops@bastion"}.String())
}

// Producers check who they say asked.
func TestARequesterIsChecked(t *testing.T) {
	t.Parallel()
	require.NoError(t, tasks.Requester{Actor: "api:helpdesk", Address: "10.0.0.4"}.Validate())
	for r, want := range map[tasks.Requester]string{
		{}:                  `requester.actor: "" must be one of api:, cli:, console:, app: followed by a name`,
		{Actor: "helpdesk"}: `requester.actor: "helpdesk" must be one of`,
		{Actor: "api:"}:     `requester.actor: "api:" must be one of`,
		{Actor: "app:" + strings.Repeat("a", 200)}:    "requester.actor: longer than 200",
		{Actor: "cli:ops\x1b[2J@host"}:                "requester.actor:",
		{Actor: "api:x", Address: "10.0.0.4\nforged"}: "requester.address:",
	} {
		require.ErrorContains(t, r.Validate(), want, r.Actor)
	}
}

func TestEncodeWritesEmptyCollectionsNotNull(t *testing.T) {
	t.Parallel()
	p := validPayload()
	p.Actions, p.Meta = nil, nil
	b, err := p.Encode()
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	require.JSONEq(t, `[]`, string(m["actions"]))
	require.JSONEq(t, `{}`, string(m["meta"]))
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*tasks.Payload)
		want   string
	}{
		{"no user", func(p *tasks.Payload) { p.User = tasks.User{} }, "user: one of email, username or id is required"},
		{"two refs", func(p *tasks.Payload) { p.User.Username = "alice" }, "user: give exactly one of email, username or id"},
		{"three refs", func(p *tasks.Payload) { p.User = tasks.User{Email: "a@b.co", Username: "a", ID: "1"} }, "not several"},
		{"bad email", func(p *tasks.Payload) { p.User.Email = "alice.example.com" }, `user.email: "alice.example.com" is not an email address`},
		{"display name", func(p *tasks.Payload) { p.User.Email = "Alice <alice@example.com>" }, "user.email:"},
		{"dotless domain", func(p *tasks.Payload) { p.User.Email = "alice@example" }, "user.email:"},
		{"username with control char", func(p *tasks.Payload) { p.User = tasks.User{Username: "al\x00ice"} }, "user.username:"},
		{"id with spaces", func(p *tasks.Payload) { p.User = tasks.User{ID: " 42"} }, "user.id:"},
		{"unknown action", func(p *tasks.Payload) { p.Actions = []string{"UPDATE_PASSWORD", "RESET_EVERYTHING"} }, `actions[1]: unknown action "RESET_EVERYTHING"`},
		{"action wrong case", func(p *tasks.Payload) { p.Actions = []string{"update_password"} }, "did you mean UPDATE_PASSWORD"},
		{"provider upper", func(p *tasks.Payload) { p.Provider = "Corp" }, `provider: "Corp" must be lower-case`},
		{"provider empty", func(p *tasks.Payload) { p.Provider = "" }, "provider: is required"},
		{"provider underscore", func(p *tasks.Payload) { p.Provider = "corp_eu" }, "provider:"},
		{"provider trailing hyphen", func(p *tasks.Payload) { p.Provider = "corp-" }, "provider:"},
		{"campaign syntax", func(p *tasks.Payload) { p.Campaign = "Breach 2026" }, "campaign:"},
		{"row without campaign", func(p *tasks.Payload) { p.CampaignRow = 3 }, "campaign_row: set without a campaign"},
		{"negative row", func(p *tasks.Payload) { p.Campaign, p.CampaignRow = "breach", -1 }, "campaign_row: -1 is negative"},
		{"version 0", func(p *tasks.Payload) { p.V = 0 }, "v: unsupported payload version 0"},
		{"newer version", func(p *tasks.Payload) { p.V = 2 }, "v: payload version 2 is written by a newer resetq (this build reads 1)"},
		{"key too long", func(p *tasks.Payload) { p.IdempotencyKey = strings.Repeat("k", 201) }, "idempotency_key:"},
		{"meta value too long", func(p *tasks.Payload) { p.Meta["ticket"] = strings.Repeat("x", 1025) }, "meta.ticket:"},
		{"meta value with escape", func(p *tasks.Payload) { p.Meta["ticket"] = "HD-1\x1b[2J" }, "meta.ticket: value contains the control character U+001B"},
		{"meta value not UTF-8", func(p *tasks.Payload) { p.Meta["ticket"] = "HD-\xff" }, "meta.ticket: value is not valid UTF-8"},
		{"email not UTF-8", func(p *tasks.Payload) { p.User.Email = "al\xffce@example.com" }, "user.email: is not valid UTF-8"},
		{"email with U+FFFD", func(p *tasks.Payload) { p.User.Email = "al\ufffdce@example.com" }, "U+FFFD"},
		{"no requested_at", func(p *tasks.Payload) { p.RequestedAt = time.Time{} }, "requested_at: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := validPayload()
			p.Meta = map[string]string{"ticket": "HD-4411"}
			tt.mutate(&p)
			err := p.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestValidateAcceptsEveryUserKind(t *testing.T) {
	t.Parallel()
	for _, u := range []tasks.User{
		{Email: "alice+test@example.com"},
		{Username: "alice"},
		{ID: "0f8a6a2e-6a51-4a8a-9d6f-0c1a3b2c4d5e"},
	} {
		p := validPayload()
		p.User = u
		require.NoError(t, p.Validate(), u.String())
	}
}

func TestMetaValuesKeepLineBreaksAndOldTasksStillDecode(t *testing.T) {
	t.Parallel()
	p := validPayload()
	p.Meta = map[string]string{"note": "line 1\r\n\tline 2", "name": "Jürgen"}
	require.NoError(t, p.Validate(), "tab and line breaks are text, as in a multi-line CSV field")

	// A task an earlier version queued with an escape in its meta is still
	// read: refusing it now would lose its reset.
	old := `{"v":1,"provider":"corp","user":{"email":"a@b.co"},"actions":[],"meta":{"t":"\u001b[2J"},"requested_at":"2026-11-22T10:00:00Z"}`
	got, err := tasks.Decode([]byte(old))
	require.NoError(t, err)
	require.Equal(t, "\x1b[2J", got.Meta["t"])
	_, err = got.Encode()
	require.ErrorContains(t, err, "meta.t: value contains the control character U+001B", "but it cannot be queued anew")
}

func TestDecodeRejectsWhatIsNotAPayload(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not json":      `{"v":1,`,
		"unknown field": `{"v":1,"provider":"corp","user":{"email":"a@b.co"},"actions":[],"requested_at":"2026-11-22T10:00:00Z","priority":9}`,
		"trailing data": `{"v":1,"provider":"corp","user":{"email":"a@b.co"},"actions":[],"requested_at":"2026-11-22T10:00:00Z"} {}`,
		"invalid":       `{"v":1,"provider":"corp","user":{},"requested_at":"2026-11-22T10:00:00Z"}`,
		"array":         `[]`,
	} {
		_, err := tasks.Decode([]byte(body))
		require.Error(t, err, name)
	}
}

func TestTaskIDIsDeterministicAndScopedToTheProviderAndCaller(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	a := tasks.TaskID(secret, "", "corp", "HD-4411")
	require.Equal(t, a, tasks.TaskID(secret, "", "corp", "HD-4411"))
	require.NotEqual(t, a, tasks.TaskID(secret, "", "corp", "HD-4412"))
	require.NotEqual(t, a, tasks.TaskID(secret, "", "corp2", "HD-4411"))
	require.NotEqual(t, a, tasks.TaskID(secret, "token:app", "corp", "HD-4411"), "another caller's key")
	// Lengths keep ("ab","c") and ("a","bc") apart.
	require.NotEqual(t, tasks.TaskID(secret, "", "ab", "c"), tasks.TaskID(secret, "", "a", "bc"))
	require.NotEqual(t, tasks.TaskID(secret, "x", "", "c"), tasks.TaskID(secret, "", "x", "c"))
	require.True(t, tasks.ValidTaskID(a))
	require.NotContains(t, a, "HD-4411")

	r1, r2 := tasks.RandomTaskID(), tasks.RandomTaskID()
	require.NotEqual(t, r1, r2)
	require.True(t, tasks.ValidTaskID(r1))
	require.False(t, tasks.ValidTaskID("r-xyz"))
	require.False(t, tasks.ValidTaskID("../../etc/passwd"))
}

// unkeyedTaskID is how task IDs were derived before they were keyed: from
// the provider and the key alone.
func unkeyedTaskID(provider, key string) string {
	h := sha256.Sum256([]byte("resetq/v1\x00" + provider + "\x00" + key))
	return "r-" + hex.EncodeToString(h[:16])
}

func TestTaskIDCannotBeComputedWithoutTheSecret(t *testing.T) {
	t.Parallel()
	one, other := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	id := tasks.TaskID(one, "", "corp", "HD-4411")
	require.NotEqual(t, unkeyedTaskID("corp", "HD-4411"), id)
	require.NotEqual(t, id, tasks.TaskID(other, "", "corp", "HD-4411"), "another secret, another ID")
	u := tasks.User{Email: "alice@example.com"}
	require.NotEqual(t, tasks.LegacyCampaignTaskID("corp", "breach", u), tasks.CampaignTaskID(one, "corp", "breach", u))
	require.NotEqual(t, tasks.CampaignTaskID(one, "corp", "breach", u), tasks.CampaignTaskID(other, "corp", "breach", u))
	require.Equal(t, unkeyedTaskID("corp", tasks.CampaignKey("breach", u)), tasks.LegacyCampaignTaskID("corp", "breach", u),
		"a campaign started before keyed IDs keeps its IDs")
}

func TestFingerprintIsCanonicalAndCoversTheRequest(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	base := func() *tasks.Payload {
		return &tasks.Payload{V: 1, Provider: "corp", User: tasks.User{Email: "alice@example.com"},
			Actions: []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}, Meta: map[string]string{"a": "1", "b": "2"}}
	}
	fp := base().Fingerprint(secret)
	same := map[string]func(p *tasks.Payload){
		"actions reordered":    func(p *tasks.Payload) { p.Actions = []string{"VERIFY_EMAIL", "UPDATE_PASSWORD"} },
		"an action repeated":   func(p *tasks.Payload) { p.Actions = append(p.Actions, "VERIFY_EMAIL") },
		"meta built otherwise": func(p *tasks.Payload) { p.Meta = map[string]string{"b": "2", "a": "1"} },
		"email case":           func(p *tasks.Payload) { p.User.Email = "Alice@Example.COM" },
		"another key and time": func(p *tasks.Payload) { p.IdempotencyKey, p.RequestedAt = "K", time.Now() },
	}
	for name, change := range same {
		p := base()
		change(p)
		require.Equal(t, fp, p.Fingerprint(secret), name)
	}
	different := map[string]func(p *tasks.Payload){
		"user":            func(p *tasks.Payload) { p.User.Email = "bob@example.com" },
		"user kind":       func(p *tasks.Payload) { p.User = tasks.User{Username: "alice@example.com"} },
		"provider":        func(p *tasks.Payload) { p.Provider = "staff" },
		"actions":         func(p *tasks.Payload) { p.Actions = []string{"UPDATE_PASSWORD"} },
		"no actions":      func(p *tasks.Payload) { p.Actions = nil },
		"meta value":      func(p *tasks.Payload) { p.Meta["b"] = "3" },
		"meta entry more": func(p *tasks.Payload) { p.Meta["c"] = "" },
		"no meta":         func(p *tasks.Payload) { p.Meta = nil },
	}
	for name, change := range different {
		p := base()
		change(p)
		require.NotEqual(t, fp, p.Fingerprint(secret), name)
	}
	p := base()
	p.Meta = nil
	q := base()
	q.Meta = map[string]string{}
	require.Equal(t, p.Fingerprint(secret), q.Fingerprint(secret), "no meta is empty meta")
	require.NotEqual(t, fp, base().Fingerprint([]byte("another secret")))
	require.NotContains(t, fp, "alice")
}

func TestCampaignKeyIgnoresCaseOfTheReference(t *testing.T) {
	t.Parallel()
	require.Equal(t,
		tasks.CampaignKey("breach", tasks.User{Email: "Alice@Example.com"}),
		tasks.CampaignKey("breach", tasks.User{Email: "alice@example.com"}))
	require.NotEqual(t,
		tasks.CampaignKey("breach", tasks.User{Email: "alice@example.com"}),
		tasks.CampaignKey("breach", tasks.User{Username: "alice@example.com"}))
}

func TestQueueNames(t *testing.T) {
	t.Parallel()
	require.Equal(t, "resetq-corp", tasks.QueueName("corp"))
	require.Equal(t, "resetq-corp.campaigns", tasks.CampaignQueueName("corp"))
	require.Equal(t, []string{"resetq-corp", "resetq-corp.campaigns"}, tasks.Queues("corp"))
	require.NotEqual(t, tasks.CampaignQueueName("corp"), tasks.QueueName("corp-campaigns"))
	for _, q := range tasks.Queues("corp-2") {
		require.Equal(t, "corp-2", tasks.ProviderOfQueue(q))
	}
	require.Empty(t, tasks.ProviderOfQueue(tasks.WebhookQueueName))
	require.Empty(t, tasks.ProviderOfQueue("default"))
	for _, r := range tasks.ReservedProviderNames {
		require.NotEqual(t, tasks.WebhookQueueName, tasks.QueueName(r+"x"))
		require.Equal(t, tasks.WebhookQueueName, tasks.QueueName(r))
	}
}
