// Package cognitotest is an Amazon Cognito user pool emulator for resetq's
// tests and `resetq dev`: the AWS JSON 1.1 protocol, Signature Version 4
// checked against the keys it knows, and the five calls resetq makes
// (ListUsers, AdminGetUser, AdminResetUserPassword, ForgotPassword,
// DescribeUserPool) with Cognito's exceptions, with the fault knobs every
// emulator has. No Cognito can run here: every request and answer of the
// emulator is validated against the service model (cognito-idp api-2.json
// from github.com/aws/aws-sdk-go v1.55.8) in its tests.
package cognitotest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/resetq/resetq/idp/internal/emulator"
)

// Endpoints are the operations, for faults and the request log.
const (
	EndpointListUsers    emulator.Endpoint = "ListUsers"
	EndpointAdminGetUser emulator.Endpoint = "AdminGetUser"
	EndpointAdminReset   emulator.Endpoint = "AdminResetUserPassword"
	EndpointForgot       emulator.Endpoint = "ForgotPassword"
	EndpointDescribePool emulator.Endpoint = "DescribeUserPool"
	EndpointUnknown      emulator.Endpoint = "unknown"
	targetPrefix                           = "AWSCognitoIdentityProviderService."
)

// Region is the region the emulator's pools live in.
const Region = "us-east-1"

// User is a user of a pool.
type User struct {
	Username, Sub, Email string
	EmailVerified        bool
	Enabled              bool
	// Status is CONFIRMED, UNCONFIRMED, RESET_REQUIRED,
	// FORCE_CHANGE_PASSWORD or EXTERNAL_PROVIDER.
	Status string
	// Password is the current one; "" once an admin reset took it.
	Password string
}

// Code is a reset code Cognito sent.
type Code struct {
	Username, Email string
	// Kind is "admin" (AdminResetUserPassword) or "forgot".
	Kind string
	Code string
}

// Pool is a user pool.
type Pool struct {
	ID, Name string
	users    []*User
	clients  map[string]string // app client id → secret ("" for none)
	// Hide: ForgotPassword answers as for a known user (the app client's
	// PreventUserExistenceErrors).
	Hide bool
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	*emulator.Base

	mu        sync.Mutex
	pools     map[string]*Pool
	keys      map[string]string // access key id → secret
	codes     []Code
	throttled int
	denied    map[string]bool // operations IAM refuses
	anyKey    bool
}

// NewServer starts an emulator with no pools and no keys.
func NewServer() *Server {
	s := &Server{pools: map[string]*Pool{}, keys: map[string]string{}, denied: map[string]bool{}}
	s.Base = emulator.NewBase(writeStatus)
	s.Serve(s.serve)
	return s
}

// AddKey makes an access key known; its secret signs requests.
func (s *Server) AddKey(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[id] = secret
}

// TrustAnyKey makes the emulator take any signed request, whatever its
// key, as local emulators do (`resetq dev`, where a developer's own AWS
// keys in the environment come first in the credential chain).
func (s *Server) TrustAnyKey() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anyKey = true
}

// RemoveKeys forgets every access key, as deleting them in IAM would.
func (s *Server) RemoveKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.keys)
}

// Deny makes IAM refuse an operation (AccessDeniedException).
func (s *Server) Deny(op emulator.Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[string(op)] = true
}

// Throttle makes the next n calls answer TooManyRequestsException.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttled = n
}

// AddPool makes a user pool (us-east-1_…) and returns it.
func (s *Server) AddPool(name string) *Pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &Pool{ID: Region + "_" + strings.ReplaceAll(rand.Text()[:9], "=", ""), Name: name, clients: map[string]string{}}
	s.pools[p.ID] = p
	return p
}

// AddClient adds an app client to a pool, with a secret ("" for none),
// and returns its id.
func (s *Server) AddClient(p *Pool, secret string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.ToLower(rand.Text()[:26])
	p.clients[id] = secret
	return id
}

// AddUser adds a confirmed, enabled user whose username is their email,
// verified, with a password.
func (s *Server) AddUser(p *Pool, email string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{Username: email, Sub: newSub(), Email: email, EmailVerified: true, Enabled: true, Status: "CONFIRMED",
		Password: "initial-" + rand.Text()[:8]}
	p.users = append(p.users, u)
	return u
}

// Set changes a user under the lock.
func (s *Server) Set(u *User, f func(*User)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(u)
}

// Get returns a copy of a user's state.
func (s *Server) Get(u *User) User { return emulator.Locked(&s.mu, func() User { return *u }) }

// SetHide sets whether ForgotPassword hides unknown users.
func (s *Server) SetHide(p *Pool, hide bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Hide = hide
}

// Codes returns the reset codes sent.
func (s *Server) Codes() []Code {
	return emulator.Locked(&s.mu, func() []Code { return slices.Clone(s.codes) })
}

// SentTo counts the reset codes sent to email.
func (s *Server) SentTo(email string) int {
	return emulator.Count(s.Codes(), func(c Code) bool { return strings.EqualFold(c.Email, email) })
}

// Sample is what AddSampleUsers added.
type Sample struct {
	// Emails are the enabled users'; Disabled every tenth's.
	Emails, Disabled []string
}

// AddSampleUsers adds the n sample users every emulator has to a pool.
func (s *Server) AddSampleUsers(p *Pool, n int) Sample {
	var out Sample
	out.Emails, out.Disabled = emulator.AddSample(n, func(email string, off bool) {
		u := s.AddUser(p, email)
		s.Set(u, func(u *User) { u.Enabled = !off })
	})
	return out
}

// Route names a request's operation.
func Route(r *http.Request) emulator.Endpoint {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok || r.Method != http.MethodPost {
		return EndpointUnknown
	}
	switch ep := emulator.Endpoint(op); ep {
	case EndpointListUsers, EndpointAdminGetUser, EndpointAdminReset, EndpointForgot, EndpointDescribePool:
		return ep
	}
	return EndpointUnknown
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ep := Route(r)
	call, body, rw, ok := s.Intercept(w, r, r.URL.Path, ep)
	defer call.End()
	if !ok {
		return
	}
	w = rw
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep == EndpointUnknown {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	// ForgotPassword is a public call, made unsigned (the model's
	// authtype none); the rest are IAM's.
	if code, msg := s.authenticate(r, body); code != "" && ep != EndpointForgot {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	if s.denied[string(ep)] {
		writeError(w, http.StatusBadRequest, "AccessDeniedException", "User: arn:aws:iam::000000000000:user/resetq is not authorized to perform: cognito-idp:"+string(ep))
		return
	}
	if s.throttled > 0 {
		s.throttled--
		writeError(w, http.StatusBadRequest, "TooManyRequestsException", "Too many requests")
		return
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "")
		return
	}
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(in[k], &v)
		return v
	}
	if ep == EndpointForgot {
		s.forgot(w, str("ClientId"), str("Username"), str("SecretHash"))
		return
	}
	pool := s.pools[str("UserPoolId")]
	if pool == nil {
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "User pool "+str("UserPoolId")+" does not exist.")
		return
	}
	switch ep {
	case EndpointDescribePool:
		writeJSON(w, map[string]any{"UserPool": map[string]any{"Id": pool.ID, "Name": pool.Name, "Status": "Enabled",
			"EstimatedNumberOfUsers": len(pool.users), "UsernameAttributes": []string{"email"}}})
	case EndpointAdminGetUser:
		u := pool.byUsername(str("Username"))
		if u == nil {
			writeError(w, http.StatusBadRequest, "UserNotFoundException", "User does not exist.")
			return
		}
		out := userJSON(u)
		out["UserAttributes"] = out["Attributes"]
		delete(out, "Attributes")
		writeJSON(w, out)
	case EndpointListUsers:
		s.list(w, pool, str("Filter"), in["Limit"])
	case EndpointAdminReset:
		s.adminReset(w, pool, str("Username"))
	}
}

// authenticate checks the SigV4 signature against the keys it knows, as
// AWS does, and returns the exception's code and message when it fails.
func (s *Server) authenticate(r *http.Request, body []byte) (code, msg string) {
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "MissingAuthenticationTokenException", "Missing Authentication Token"
	}
	keyID, date, region, service, signed, sig := m[1], m[2], m[3], m[4], m[5], m[6]
	secret, ok := s.keys[keyID]
	switch {
	case s.anyKey:
		return "", ""
	case !ok:
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || !strings.HasPrefix(r.Header.Get("X-Amz-Date"), date) || service != "cognito-idp" {
		return "InvalidSignatureException", "Credential should be scoped to a valid region and service."
	}
	// Sign the same request again with the headers it signed.
	again, _ := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	again.Host = r.Host
	again.ContentLength = int64(len(body))
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "x-amz-date" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), service, region, when); err != nil {
		return "InvalidSignatureException", err.Error()
	}
	want := authRE.FindStringSubmatch(again.Header.Get("Authorization"))
	if want == nil || !hmac.Equal([]byte(want[6]), []byte(sig)) {
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	}
	return "", ""
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$`)

var filterRE = regexp.MustCompile(`^\s*(\w+)\s*(=|\^=)\s*"((?:[^"\\]|\\.)*)"\s*$`)

func (s *Server) list(w http.ResponseWriter, pool *Pool, filter string, rawLimit json.RawMessage) {
	limit := 60
	_ = json.Unmarshal(rawLimit, &limit)
	var attr, op, value string
	if filter != "" {
		m := filterRE.FindStringSubmatch(filter)
		if m == nil {
			writeError(w, http.StatusBadRequest, "InvalidParameterException", "Error while parsing filter.")
			return
		}
		attr, op, value = m[1], m[2], strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[3])
	}
	users := []map[string]any{}
	for _, u := range pool.users {
		if len(users) == limit {
			break
		}
		var have string
		switch attr {
		case "":
		case "email":
			have = u.Email
		case "sub":
			have = u.Sub
		case "username":
			have = u.Username
		default:
			writeError(w, http.StatusBadRequest, "InvalidParameterException", "Invalid search attribute: "+attr)
			return
		}
		if attr == "" || op == "=" && have == value || op == "^=" && strings.HasPrefix(have, value) {
			users = append(users, userJSON(u))
		}
	}
	writeJSON(w, map[string]any{"Users": users})
}

func (s *Server) adminReset(w http.ResponseWriter, pool *Pool, username string) {
	u := pool.byUsername(username)
	switch {
	case u == nil:
		writeError(w, http.StatusBadRequest, "UserNotFoundException", "User does not exist.")
	case !u.Enabled:
		writeError(w, http.StatusBadRequest, "NotAuthorizedException", "User is disabled.")
	case u.Status == "UNCONFIRMED" || u.Status == "EXTERNAL_PROVIDER":
		writeError(w, http.StatusBadRequest, "NotAuthorizedException", "User password cannot be reset in the current state.")
	case !u.EmailVerified:
		writeError(w, http.StatusBadRequest, "InvalidParameterException",
			"Cannot reset password for the user as there is no registered/verified email or phone_number")
	default:
		u.Status, u.Password = "RESET_REQUIRED", ""
		s.codes = append(s.codes, Code{Username: u.Username, Email: u.Email, Kind: "admin", Code: newCode()})
		writeJSON(w, map[string]any{})
	}
}

func (s *Server) forgot(w http.ResponseWriter, clientID, username, hash string) {
	var pool *Pool
	var secret string
	for _, p := range s.pools {
		if sec, ok := p.clients[clientID]; ok {
			pool, secret = p, sec
		}
	}
	if pool == nil {
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "User pool client "+clientID+" does not exist.")
		return
	}
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(username + clientID))
		if !hmac.Equal([]byte(base64.StdEncoding.EncodeToString(m.Sum(nil))), []byte(hash)) {
			writeError(w, http.StatusBadRequest, "NotAuthorizedException", "Unable to verify secret hash for client "+clientID)
			return
		}
	}
	u := pool.byUsername(username)
	delivery := map[string]any{"CodeDeliveryDetails": map[string]any{"Destination": "u***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}}
	switch {
	case u == nil && pool.Hide:
		writeJSON(w, delivery)
	case u == nil:
		writeError(w, http.StatusBadRequest, "UserNotFoundException", "Username/client id combination not found.")
	case !u.Enabled:
		writeError(w, http.StatusBadRequest, "NotAuthorizedException", "User is disabled.")
	case !u.EmailVerified:
		writeError(w, http.StatusBadRequest, "InvalidParameterException",
			"Cannot reset password for the user as there is no registered/verified email or phone_number")
	default:
		s.codes = append(s.codes, Code{Username: u.Username, Email: u.Email, Kind: "forgot", Code: newCode()})
		writeJSON(w, delivery)
	}
}

func (p *Pool) byUsername(name string) *User {
	for _, u := range p.users {
		// The pool signs in by email: the email is an alias of the
		// username, as Cognito treats it.
		if u.Username == name || strings.EqualFold(u.Email, name) || u.Sub == name {
			return u
		}
	}
	return nil
}

func userJSON(u *User) map[string]any {
	created := float64(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC).Unix())
	return map[string]any{"Username": u.Username, "Enabled": u.Enabled, "UserStatus": u.Status,
		"UserCreateDate": created, "UserLastModifiedDate": created,
		"Attributes": []map[string]string{{"Name": "sub", "Value": u.Sub}, {"Name": "email", "Value": u.Email},
			{"Name": "email_verified", "Value": fmt.Sprint(u.EmailVerified)}}}
}

// writeError answers an exception in the JSON 1.1 protocol's shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code+":")
	w.Header().Set("X-Amzn-Requestid", newSub())
	w.WriteHeader(status)
	out := map[string]string{"__type": code}
	if message != "" {
		out["message"] = message
	}
	_ = json.NewEncoder(w).Encode(out)
}

// writeStatus is the body of an injected status: the AWS front end's
// ServiceUnavailable, or a proxy's page.
func writeStatus(w http.ResponseWriter, status int) {
	if status == http.StatusServiceUnavailable {
		writeError(w, status, "ServiceUnavailable", "Service Unavailable")
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", newSub())
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

func newSub() string { return emulator.NewID() }

func newCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n)
}
