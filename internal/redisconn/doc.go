// Package redisconn opens the one Redis client a resetq process shares
// between Asynq, the rate limiter, outcomes and halt state.
package redisconn
