// Package metrics defines resetq's Prometheus metrics on an injected
// registerer. Labels hold only bounded values: provider names, outcomes,
// reasons, operations and status codes; never a user, task id, URL or error
// text.
package metrics
