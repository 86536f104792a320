package idp

import "context"

type opKey struct{}

// WithOperation tags ctx with the operation an HTTP request performs, so an
// instrumented transport can label its metrics without knowing the provider.
func WithOperation(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

// Operation returns the operation ctx was tagged with, or "other".
func Operation(ctx context.Context) string {
	if op, ok := ctx.Value(opKey{}).(string); ok {
		return op
	}
	return "other"
}
