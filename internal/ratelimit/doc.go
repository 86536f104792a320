// Package ratelimit paces resets: limits shared by every worker process
// through Redis (a provider's, a campaign's), waited out by the task that
// holds the slot when the wait is short, and handed back as a WaitError when
// it is not, so the task can wait in its queue instead of holding a worker.
//
// Asynq archives a task whose last try returns any error, a wait included.
// Waitlist keeps such tasks, with when their slot opens, and puts them back
// in their queue then: a wait for a rate limit never ends a task.
package ratelimit
