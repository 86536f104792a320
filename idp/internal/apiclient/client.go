package apiclient

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/resetq/resetq/idp"
)

// DefaultTimeout bounds a call when neither the client nor the request
// sets a timeout.
const DefaultTimeout = 30 * time.Second

func (c *Client) userAgent() string { return cmp.Or(c.UserAgent, "resetq") }

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 1 << 20

// Client makes one provider's HTTP calls. Its fields are set once, before
// the first call; it is safe for concurrent use.
type Client struct {
	// HTTP sends the requests, which carry idp.Operation tags for
	// instrumentation. Nil: http.DefaultTransport's pooled connections.
	HTTP *http.Client
	// MediaType is sent as Accept, and as Content-Type with a body.
	MediaType string
	// UserAgent is sent on every request ("resetq" when empty).
	UserAgent string
	// Header is sent on every request (an API version, say).
	Header http.Header
	// Timeout bounds a call whose Request sets none (DefaultTimeout when
	// zero).
	Timeout time.Duration
	// Secrets are the configured credentials (a client secret, a
	// password, a static token), scrubbed from every answer along with
	// the bearer of the call.
	Secrets []string
}

// Request is one call.
type Request struct {
	// Op is the idp operation, for errors and metrics.
	Op     string
	Method string
	URL    string
	// Body is sent as MediaType; nil sends none.
	Body []byte
	// Bearer, when set, is sent as the Authorization; else Basic, when
	// its user is set.
	Bearer string
	Basic  [2]string
	// Header is added to the Client's.
	Header http.Header
	// Timeout, when set, replaces the Client's.
	Timeout time.Duration
}

// Response is an answer, read in full, with every credential the client
// knows scrubbed from its body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode reads the answer's body as JSON into v.
func (r *Response) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// NoContent reads the answer to a call that succeeds with 204 and nothing
// else, as both the IdPs' reset calls do. For a status that is not 2xx,
// done is false: classifying it is the provider's. For 204 err is nil. Any
// other 2xx came from something in front of the IdP (a proxy, a login
// page), so nothing can be trusted to have been done: err is a
// Configuration error with message and hint.
func (r *Response) NoContent(op, message, hint string) (done bool, err error) {
	switch {
	case r.Status == http.StatusNoContent:
		return true, nil
	case r.Status >= 200 && r.Status < 300:
		return true, &idp.Error{Kind: idp.Configuration, Op: op, Status: r.Status, Message: message, Hint: hint}
	}
	return false, nil
}

// Do makes one call. It returns an *idp.Error when no answer came: Transient
// when the request never went out in full, and for a reset that did,
// Unconfirmed (see idp.NoAnswer). Any status is an answer: classifying it is
// the provider's.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	timeout := cmp.Or(r.Timeout, c.Timeout, DefaultTimeout)
	ctx, cancel := context.WithTimeout(idp.WithOperation(ctx, r.Op), timeout)
	defer cancel()
	ctx, sent := watchSent(ctx)
	var rd io.Reader
	if r.Body != nil {
		rd = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, rd)
	if err != nil {
		return nil, &idp.Error{Kind: idp.Configuration, Op: r.Op, Message: "cannot build request", Err: err}
	}
	for _, h := range []http.Header{c.Header, r.Header} {
		for k, v := range h {
			req.Header[k] = v
		}
	}
	req.Header.Set("Accept", c.MediaType)
	req.Header.Set("User-Agent", c.userAgent())
	if r.Body != nil {
		req.Header.Set("Content-Type", c.MediaType)
	}
	switch {
	case r.Bearer != "":
		req.Header.Set("Authorization", "Bearer "+r.Bearer)
	case r.Basic[0] != "":
		req.SetBasicAuth(r.Basic[0], r.Basic[1])
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return nil, TransportError(r.Op, sent(), err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, NoAnswer(r.Op, err)
	}
	b = Scrub(b, append([]string{r.Bearer}, c.Secrets...)...)
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// WithUserAgent returns the client's HTTP client with the User-Agent added,
// for libraries that build their own requests (golang.org/x/oauth2).
func (c *Client) WithUserAgent() *http.Client {
	hc := *c.httpClient()
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", c.userAgent())
		return next.RoundTrip(r)
	})
	return &hc
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP == nil {
		return defaultHTTP
	}
	return c.HTTP
}

var defaultHTTP = &http.Client{Transport: http.DefaultTransport}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
