package keygen

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/resetq/resetq/idp"
	"github.com/resetq/resetq/idp/internal/apiclient"
)

// preflightEvery is how long a passed preflight is trusted before a reset
// runs it again.
const preflightEvery = 5 * time.Minute

// EventPasswordReset is the webhook event Keygen fires for every reset.
const EventPasswordReset = "user.password-reset"

// Check verifies, without requesting any reset, that the token works and
// whose it is, that the account is reachable under base_url, that the
// server accepts the API version, and the settings that would otherwise
// turn resets into "succeeded" that nobody receives: with verify_user, a
// token that sees every user; with deliver false, a webhook endpoint that
// subscribes to user.password-reset.
func (p *Provider) Check(ctx context.Context) (idp.CheckReport, error) {
	var r idp.CheckReport
	me, res, err := p.whoami(ctx)
	if err != nil {
		return r, err
	}
	source := "the configured token"
	if p.minted != nil {
		source = "a token minted for " + p.cfg.Email
	}
	switch me.Type {
	case "users":
		r.Lines = append(r.Lines, fmt.Sprintf("token: %s belongs to user %s (role %s)", source, me.Email, me.Role))
	case "products":
		r.Lines = append(r.Lines, fmt.Sprintf("token: %s is a product token of %q", source, me.Name))
	default:
		r.Lines = append(r.Lines, fmt.Sprintf("token: %s belongs to a %s", source, me.Type))
	}
	if p.minted != nil {
		r.Lines = append(r.Lines, fmt.Sprintf("minted tokens expire after %s and are revoked when the worker stops", p.cfg.TokenExpiry))
	}
	account := res.Header.Get("Keygen-Account")
	if account == "" {
		account = p.cfg.Account
	}
	r.Lines = append(r.Lines, fmt.Sprintf("account: %s reachable at %s", account, p.accountURL("")))
	version := res.Header.Get("Keygen-Version")
	if version == "" {
		version = p.cfg.APIVersion + " (not echoed)"
	}
	r.Lines = append(r.Lines, "API version: "+version+" accepted")
	if p.cfg.Environment != "" {
		r.Lines = append(r.Lines, fmt.Sprintf("environment: %s (sent as Keygen-Environment on lookups)", p.cfg.Environment))
	}
	if p.cfg.VerifyUser {
		if err := p.seesEveryUser(me); err != nil {
			return r, err
		}
		r.Lines = append(r.Lines, "verify_user: the token sees every user, staff included")
	} else {
		r.Warnings = append(r.Warnings, "Keygen answers 204 for unknown emails on purpose: set verify_user: true to have them "+
			"reported as skipped (user_not_found) instead of succeeded")
	}
	if p.cfg.Deliver {
		r.Lines = append(r.Lines, "deliver: true (Keygen sends its own reset email)")
	} else {
		lines, warnings, err := p.checkSubscribers(ctx)
		if err != nil {
			return r, err
		}
		r.Lines, r.Warnings = append(r.Lines, lines...), append(r.Warnings, warnings...)
	}
	p.pre.mark()
	return r, nil
}

// bearer is whose a token is, as GET …/me says.
type bearer struct {
	Type, ID          string
	Email, Role, Name string
}

func (p *Provider) whoami(ctx context.Context) (bearer, *apiclient.Response, error) {
	res, err := p.call(ctx, idp.OpCheck, http.MethodGet, p.accountURL("/me"), nil, true)
	if err != nil {
		return bearer{}, nil, err
	}
	if res.Status != http.StatusOK {
		return bearer{}, nil, p.classify(idp.OpCheck, res)
	}
	var me struct {
		Data struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			Attributes struct {
				Email string `json:"email"`
				Role  string `json:"role"`
				Name  string `json:"name"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := res.Decode(&me); err != nil || me.Data.ID == "" {
		return bearer{}, nil, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck, Status: res.Status,
			Message: "GET /me did not answer with a bearer", Hint: p.base + " does not look like Keygen's API"}
	}
	a := me.Data.Attributes
	return bearer{Type: me.Data.Type, ID: me.Data.ID, Email: a.Email, Role: a.Role, Name: a.Name}, res, nil
}

// staffReaders are the roles whose tokens read every user (UserPolicy#show?).
// A product or environment token reads only users with role user, and a
// user's token only itself and its teammates: a lookup of anyone else is a
// 404, which verify_user would report as user_not_found.
var staffReaders = map[string]bool{"admin": true, "developer": true, "sales-agent": true, "support-agent": true, "read-only": true}

func (p *Provider) seesEveryUser(me bearer) error {
	if me.Type == "users" && staffReaders[me.Role] {
		return nil
	}
	who := "a " + strings.TrimSuffix(me.Type, "s") + " token"
	if me.Type == "users" {
		who = "the token of a user with role " + me.Role
	}
	return &idp.Error{Kind: idp.Permission, Op: idp.OpCheck,
		Message: fmt.Sprintf("verify_user is on, but %s cannot see staff users (admin, developer, …): "+
			"Keygen answers 404 for them, and they would be reported user_not_found", who),
		Hint: "give verify_user a token that sees every user (an admin token, or a developer, sales, support or read-only one), " +
			"or set verify_user: false"}
}

// hookEndpoint is what resetq reads of a webhook endpoint.
type hookEndpoint struct {
	ID         string `json:"id"`
	Attributes struct {
		URL           string   `json:"url"`
		Subscriptions []string `json:"subscriptions"`
	} `json:"attributes"`
	Relationships struct {
		Product struct {
			Data *struct {
				ID string `json:"id"`
			} `json:"data"`
		} `json:"product"`
	} `json:"relationships"`
}

func (e hookEndpoint) subscribed() bool {
	for _, s := range e.Attributes.Subscriptions {
		if s == "*" || s == EventPasswordReset {
			return true
		}
	}
	return false
}

// endpointPageSize is the largest page Keygen serves.
const endpointPageSize = 100

// webhookEndpoints lists the account's webhook endpoints, page by page.
func (p *Provider) webhookEndpoints(ctx context.Context) ([]hookEndpoint, error) {
	var all []hookEndpoint
	for page := 1; page <= 100; page++ { // Keygen serves 100 pages at most
		q := url.Values{"page[number]": {fmt.Sprint(page)}, "page[size]": {fmt.Sprint(endpointPageSize)}}
		res, err := p.call(ctx, idp.OpCheck, http.MethodGet, p.accountURL("/webhook-endpoints?"+q.Encode()), nil, true)
		if err != nil {
			return nil, err
		}
		if res.Status != http.StatusOK {
			e := p.classify(idp.OpCheck, res)
			if res.Status == http.StatusForbidden && e.Kind == idp.Permission {
				e.Hint = "with deliver: false resetq must see that a webhook endpoint subscribes to " + EventPasswordReset +
					", and this token may not list webhook endpoints: use an admin, developer, read-only or product token"
			}
			return nil, e
		}
		var doc struct {
			Data []hookEndpoint `json:"data"`
		}
		if err := res.Decode(&doc); err != nil {
			return nil, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck, Status: res.Status,
				Message: "the webhook endpoint list is not JSON:API", Hint: p.base + " does not look like Keygen's API"}
		}
		all = append(all, doc.Data...)
		if len(doc.Data) < endpointPageSize {
			break
		}
	}
	return all, nil
}

// checkSubscribers refuses deliver false when no webhook endpoint
// subscribes to user.password-reset: Keygen would then send the reset to
// nobody and answer 204 all the same.
func (p *Provider) checkSubscribers(ctx context.Context) (lines, warnings []string, err error) {
	all, err := p.webhookEndpoints(ctx)
	if err != nil {
		return nil, nil, err
	}
	var hosts []string
	productOnly := true
	for _, e := range all {
		if !e.subscribed() {
			continue
		}
		host := e.Attributes.URL // the host only: a URL's path or query may hold a secret
		if u, err := url.Parse(host); err == nil && u.Host != "" {
			host = u.Host
		}
		hosts = append(hosts, host)
		if e.Relationships.Product.Data == nil {
			productOnly = false
		}
	}
	if len(hosts) == 0 {
		msg := "deliver is false, and the account has no webhook endpoint"
		if len(all) > 0 {
			msg = fmt.Sprintf("deliver is false, and none of the account's %d webhook endpoints", len(all))
		}
		return nil, nil, &idp.Error{Kind: idp.Configuration, Op: idp.OpCheck,
			Message: msg + " subscribes to " + EventPasswordReset + ": Keygen would send these resets to nobody and answer 204",
			Hint: "add a webhook endpoint subscribed to " + EventPasswordReset + " (or *) whose receiver sends your email, " +
				"or set deliver: true so that Keygen mails users itself"}
	}
	lines = append(lines, fmt.Sprintf("deliver: false; %d webhook endpoint(s) subscribe to %s: %s",
		len(hosts), EventPasswordReset, strings.Join(hosts, ", ")))
	if productOnly {
		warnings = append(warnings, "every endpoint subscribed to "+EventPasswordReset+" belongs to a product: "+
			"Keygen sends it those events only for users with role user, not for staff")
	}
	warnings = append(warnings, "Keygen never retries a delivery whose connection is refused or reset, or whose DNS lookup fails "+
		"(only error statuses and timeouts are retried): while your receiver is down, the resets are lost")
	return lines, warnings, nil
}

// preflight runs, before resets, the checks whose failure would otherwise
// end resets as succeeded that nobody receives, so that they hold even for
// the resets the worker takes before its start-up check has run, and after
// someone deletes the webhook endpoint.
type preflight struct {
	mu     sync.Mutex
	passed time.Time
}

func (f *preflight) mark() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.passed = time.Now()
}

func (f *preflight) run(ctx context.Context, p *Provider) error {
	if p.cfg.Deliver && !p.cfg.VerifyUser {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.passed.IsZero() && time.Since(f.passed) < preflightEvery {
		return nil
	}
	if p.cfg.VerifyUser {
		me, _, err := p.whoami(ctx)
		if err != nil {
			return err
		}
		if err := p.seesEveryUser(me); err != nil {
			return err
		}
	}
	if !p.cfg.Deliver {
		if _, _, err := p.checkSubscribers(ctx); err != nil {
			return err
		}
	}
	f.passed = time.Now()
	return nil
}
