package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// TypeReset is the Asynq task type of a password reset.
const TypeReset = "reset:password"

// PayloadVersion is the payload version this package writes and reads.
const PayloadVersion = 1

// ErrNewerPayload is the error of Decode for a payload written by a newer
// build: not a bad task, one this worker cannot read yet.
var ErrNewerPayload = errors.New("written by a newer resetq")

// Limits on what one payload may carry. They keep a single task small in
// Redis and keep abuse of the free-form fields bounded.
const (
	MaxIdempotencyKeyLen = 200
	MaxMetaEntries       = 32
	MaxMetaKeyLen        = 64
	MaxMetaValueLen      = 1024
	MaxUserRefLen        = 320
	MaxNameLen           = 63
)

// Payload is version 1 of the reset task payload, as DESIGN.md
// specifies it. Every field is written, even when empty, so the JSON shape
// never depends on the content.
type Payload struct {
	V        int      `json:"v"`
	Provider string   `json:"provider"`
	User     User     `json:"user"`
	Actions  []string `json:"actions"`
	Campaign string   `json:"campaign"`
	// CampaignRow is the campaign row the task resets: its index among the
	// campaign's rows, from 0 in file order. It is 0 when Campaign is empty.
	CampaignRow    int               `json:"campaign_row"`
	IdempotencyKey string            `json:"idempotency_key"`
	Meta           map[string]string `json:"meta"`
	RequestedAt    time.Time         `json:"requested_at"`
	// Requester is who asked for the reset. It travels beside the
	// payload, in the task's RequesterHeader, so that a worker of an
	// earlier build, which refuses a payload field it does not know, still
	// runs the task during a rolling upgrade. Zero for a task queued
	// before requesters were recorded.
	Requester Requester `json:"-"`
}

// Requester says who asked for a reset. For a campaign's row it is who
// started the campaign; the payload's campaign says which.
type Requester struct {
	// Actor is "api:<token name>" (the HTTP API), "cli:<user>@<host>"
	// (resetq enqueue and campaign start), "console:<name>" (the
	// console), or "app:<name>" (an application's producer.Client).
	Actor string `json:"actor"`
	// Address is the client's network address, when it came over HTTP.
	Address string `json:"address,omitempty"`
}

// MaxActorLen bounds a requester's actor and address.
const MaxActorLen = 200

// String renders the requester as "actor (address)", or "unknown" for a
// task queued before requesters were recorded.
func (r Requester) String() string {
	switch {
	case r.Actor == "":
		return "unknown"
	case r.Address == "":
		return r.Actor
	}
	return r.Actor + " (" + r.Address + ")"
}

// Validate checks the actor and the address: printable, bounded, and an
// actor of a known kind. Producers check what they write; a worker takes
// what a task carries (RequesterOf), so a kind added later never fails a
// task.
func (r Requester) Validate() error {
	kind, name, ok := strings.Cut(r.Actor, ":")
	switch {
	case !ok || name == "" || !slices.Contains(RequesterKinds, kind):
		return fmt.Errorf("requester.actor: %q must be one of %s followed by a name, as api:helpdesk", r.Actor,
			strings.Join(RequesterKinds, ":, ")+":")
	case len(r.Actor) > MaxActorLen:
		return fmt.Errorf("requester.actor: longer than %d characters", MaxActorLen)
	case len(r.Address) > MaxActorLen:
		return fmt.Errorf("requester.address: longer than %d characters", MaxActorLen)
	}
	if err := checkPrintable(r.Actor); err != nil {
		return fmt.Errorf("requester.actor: %w", err)
	}
	if err := checkPrintable(r.Address); err != nil {
		return fmt.Errorf("requester.address: %w", err)
	}
	return nil
}

// RequesterHeader is the Asynq task header that carries the requester, as
// JSON ({"actor":…,"address":…}).
const RequesterHeader = "resetq-requester"

// RequesterOf reads the requester a task's headers carry: zero when there
// is none (a task queued before requesters were recorded), or when it
// cannot be read or is not printable text of a bounded length.
func RequesterOf(headers map[string]string) Requester {
	h, ok := headers[RequesterHeader]
	if !ok {
		return Requester{}
	}
	var r Requester
	if json.Unmarshal([]byte(h), &r) != nil || len(r.Actor) > MaxActorLen || len(r.Address) > MaxActorLen ||
		checkPrintable(r.Actor) != nil || checkPrintable(r.Address) != nil {
		return Requester{}
	}
	return r
}

// RequesterKinds are the kinds of actor a requester names.
var RequesterKinds = []string{"api", "cli", "console", "app"}

// User names the user to reset. Exactly one field is set.
type User struct {
	Email    string `json:"email,omitempty"`
	Username string `json:"username,omitempty"`
	ID       string `json:"id,omitempty"`
}

// Kind reports which reference the user carries: "email", "username", "id",
// or "" when none or several are set.
func (u User) Kind() string {
	var kind string
	n := 0
	for _, f := range []struct{ name, value string }{{"email", u.Email}, {"username", u.Username}, {"id", u.ID}} {
		if f.value != "" {
			kind = f.name
			n++
		}
	}
	if n != 1 {
		return ""
	}
	return kind
}

// Value returns the one reference the user carries.
func (u User) Value() string {
	switch u.Kind() {
	case "email":
		return u.Email
	case "username":
		return u.Username
	case "id":
		return u.ID
	}
	return ""
}

// String renders the reference as kind:value, for messages meant for the
// person who wrote the request (never for metric labels).
func (u User) String() string {
	if k := u.Kind(); k != "" {
		return k + ":" + u.Value()
	}
	return "(no user)"
}

var nameRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// ValidateName checks the syntax shared by provider and campaign names:
// lower-case letters, digits and inner hyphens, at most 63 characters.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("is required")
	case len(name) > MaxNameLen:
		return fmt.Errorf("%q is longer than %d characters", name, MaxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%q must be lower-case letters, digits and inner hyphens ([a-z0-9-])", name)
	}
	return nil
}

// ValidateEmail checks that s is one bare email address (no display name,
// no angle brackets), as an IdP stores it.
func ValidateEmail(s string) error {
	if len(s) > 254 {
		return fmt.Errorf("%q is longer than 254 characters", s)
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.ContainsRune(s, utf8.RuneError) {
		// U+FFFD is what a decoder leaves where bytes were not UTF-8 (JSON
		// does so silently): the address as typed is lost.
		return fmt.Errorf("%q contains U+FFFD, the mark of bytes that were not UTF-8", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Errorf("%q is not an email address", s)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") && s[at+1:] != "localhost" {
		return fmt.Errorf("%q is not an email address: the domain has no dot", s)
	}
	return nil
}

// Validate checks the user reference. Errors name the field.
func (u User) Validate() error {
	set := 0
	for _, v := range []string{u.Email, u.Username, u.ID} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0:
		return errors.New("user: one of email, username or id is required")
	case set > 1:
		return errors.New("user: give exactly one of email, username or id, not several")
	}
	switch u.Kind() {
	case "email":
		if err := ValidateEmail(u.Email); err != nil {
			return fmt.Errorf("user.email: %w", err)
		}
	case "username":
		if err := checkRef(u.Username); err != nil {
			return fmt.Errorf("user.username: %w", err)
		}
	case "id":
		if err := checkRef(u.ID); err != nil {
			return fmt.Errorf("user.id: %w", err)
		}
	}
	return nil
}

func checkRef(s string) error {
	if len(s) > MaxUserRefLen {
		return fmt.Errorf("is longer than %d characters", MaxUserRefLen)
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%q has leading or trailing spaces", s)
	}
	return checkPrintable(s)
}

func checkPrintable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%q contains a control character", s)
		}
	}
	return nil
}

// Validate checks every field of the payload. The error names the first
// field that is wrong.
func (p *Payload) Validate() error { return p.validate(true) }

// validate checks the payload; strictMeta also checks meta values, which
// earlier versions let through: a task they queued must still be read.
func (p *Payload) validate(strictMeta bool) error {
	switch {
	case p.V > PayloadVersion:
		return fmt.Errorf("v: payload version %d is %w (this build reads %d)", p.V, ErrNewerPayload, PayloadVersion)
	case p.V < 1:
		return fmt.Errorf("v: unsupported payload version %d (this build reads %d)", p.V, PayloadVersion)
	}
	if err := ValidateName(p.Provider); err != nil {
		return fmt.Errorf("provider: %w", err)
	}
	if err := p.User.Validate(); err != nil {
		return err
	}
	for i, a := range p.Actions {
		if err := ValidateAction(a); err != nil {
			return fmt.Errorf("actions[%d]: %w", i, err)
		}
	}
	if p.Campaign != "" {
		if err := ValidateName(p.Campaign); err != nil {
			return fmt.Errorf("campaign: %w", err)
		}
	}
	switch {
	case p.CampaignRow < 0:
		return fmt.Errorf("campaign_row: %d is negative", p.CampaignRow)
	case p.CampaignRow > 0 && p.Campaign == "":
		return errors.New("campaign_row: set without a campaign")
	}
	if len(p.IdempotencyKey) > MaxIdempotencyKeyLen {
		return fmt.Errorf("idempotency_key: longer than %d characters", MaxIdempotencyKeyLen)
	}
	if err := checkPrintable(p.IdempotencyKey); err != nil {
		return fmt.Errorf("idempotency_key: %w", err)
	}
	if err := validateMeta(p.Meta, strictMeta); err != nil {
		return err
	}
	if p.RequestedAt.IsZero() {
		return errors.New("requested_at: is required")
	}
	return nil
}

// ValidateMeta checks the meta a payload carries: at most MaxMetaEntries
// printable keys, with bounded keys and values of valid UTF-8 free of
// control characters but tab and line breaks (a CSV field can span lines).
// Errors name the key.
func ValidateMeta(meta map[string]string) error { return validateMeta(meta, true) }

func validateMeta(meta map[string]string, values bool) error {
	if len(meta) > MaxMetaEntries {
		return fmt.Errorf("meta: %d entries, at most %d allowed", len(meta), MaxMetaEntries)
	}
	for k, v := range meta {
		switch {
		case k == "":
			return errors.New("meta: empty key")
		case len(k) > MaxMetaKeyLen:
			return fmt.Errorf("meta.%s: key longer than %d characters", k, MaxMetaKeyLen)
		case len(v) > MaxMetaValueLen:
			return fmt.Errorf("meta.%s: value longer than %d characters", k, MaxMetaValueLen)
		}
		if err := checkPrintable(k); err != nil {
			return fmt.Errorf("meta: key %w", err)
		}
		if values {
			if err := checkText(v); err != nil {
				return fmt.Errorf("meta.%s: value %w", k, err)
			}
		}
	}
	return nil
}

// checkText refuses invalid UTF-8 and control characters (escape sequences
// that would drive a terminal showing the value) but tab and line breaks.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return fmt.Errorf("contains the control character %U", r)
		}
	}
	return nil
}

// Encode validates the payload and returns its JSON.
func (p *Payload) Encode() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q := *p
	if q.Actions == nil {
		q.Actions = []string{}
	}
	if q.Meta == nil {
		q.Meta = map[string]string{}
	}
	return json.Marshal(&q)
}

// Decode parses and validates a payload of any version this build reads.
// Unknown fields are an error: a reader must not silently drop what a
// writer meant. A payload of a newer version is ErrNewerPayload.
func Decode(b []byte) (*Payload, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Payload
	if err := dec.Decode(&p); err != nil {
		// A newer payload may carry fields this build does not know.
		var v struct{ V int }
		if json.Unmarshal(b, &v) == nil && v.V > PayloadVersion {
			return nil, fmt.Errorf("v: payload version %d is %w (this build reads %d)", v.V, ErrNewerPayload, PayloadVersion)
		}
		return nil, fmt.Errorf("payload is not valid JSON for %s v%d: %w", TypeReset, PayloadVersion, err)
	}
	if dec.More() {
		return nil, errors.New("payload has data after the JSON object")
	}
	if err := p.validate(false); err != nil {
		return nil, err
	}
	return &p, nil
}
