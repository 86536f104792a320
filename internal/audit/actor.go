package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/resetq/resetq/tasks"
)

type actorKey struct{}

// WithActor says who acts for everything done with ctx: the HTTP API, the
// console and the command line set it once per request or command, and
// whatever records an action down the line reads it with ActorOf.
func WithActor(ctx context.Context, who tasks.Requester) context.Context {
	return context.WithValue(ctx, actorKey{}, who)
}

// ActorOf is who acts for ctx, or fallback when nobody said.
func ActorOf(ctx context.Context, fallback tasks.Requester) tasks.Requester {
	if who, ok := ctx.Value(actorKey{}).(tasks.Requester); ok && who.Actor != "" {
		return who
	}
	return fallback
}

// Worker is the actor of what a worker does on its own: outcomes of
// tasks nobody asked for by name, halts.
var Worker = tasks.Requester{Actor: "worker"}

// UserRef names a user as the logs do: its reference ("email:alice@…")
// when includeUser, else a short hash keyed with key (the deployment's
// log-users key), the same in every process, which no list of guessed
// addresses reverses without the key.
func UserRef(key []byte, includeUser bool, u tasks.User) string {
	if u.Kind() == "" {
		return ""
	}
	if includeUser {
		return u.String()
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(u.Kind() + ":" + strings.ToLower(u.Value())))
	return u.Kind() + ":" + hex.EncodeToString(m.Sum(nil)[:6])
}
