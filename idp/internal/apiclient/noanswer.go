package apiclient

import (
	"context"
	"errors"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"

	"github.com/resetq/resetq/idp"
)

// NetworkError wraps a failure to get any HTTP answer. The request URL is
// dropped from the message: it can hold an email address in its query.
func NetworkError(op string, err error) *idp.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := "network error"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg = "timed out"
	case errors.Is(err, context.Canceled):
		msg = "canceled"
	}
	return &idp.Error{Kind: idp.Transient, Op: op, Message: msg, Err: err}
}

// NoAnswer is the error for a request that was sent in full and got no
// answer: Unconfirmed for a reset (the IdP may have sent the mail),
// NetworkError's kind for anything else.
func NoAnswer(op string, err error) *idp.Error {
	e := NetworkError(op, err)
	if op == idp.OpReset {
		e.Kind = idp.Unconfirmed
		e.Message = "sent, but " + e.Message + " before the answer came: the IdP may have carried it out"
	}
	return e
}

// WatchSent is watchSent, for providers whose calls a vendor's client
// makes (the AWS SDK): what it reports decides between NetworkError and
// NoAnswer.
func WatchSent(ctx context.Context) (context.Context, func() bool) { return watchSent(ctx) }

// TransportError is the error of a call that got no HTTP answer: NoAnswer
// when the request went out in full (sent), else NetworkError.
func TransportError(op string, sent bool, err error) *idp.Error {
	if sent {
		return NoAnswer(op, err)
	}
	return NetworkError(op, err)
}

// watchSent returns ctx with a trace that notes when a request made with it
// has been written in full, and a func that reports it. A request that went
// out and got no answer may have been carried out; one that never went out
// was not.
func watchSent(ctx context.Context) (context.Context, func() bool) {
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}}
	return httptrace.WithClientTrace(ctx, trace), sent.Load
}
