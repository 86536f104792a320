package main

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/hibiken/asynqmon"

	"github.com/resetq/resetq/internal/config"
)

// hiddenUser stands in the queue UI for a user's address, name or id.
const hiddenUser = "[hidden: log.include_user is off]"

// uiPayloadFormatter shows task payloads in the queue UI as the logs show
// users: without their address, name or id unless log.include_user. It
// hides every "user" object in the payload, wherever it is nested (a
// reset's payload, a webhook delivery's body), so a new task type cannot
// leak one by accident; a payload that is not JSON is not shown at all.
func uiPayloadFormatter(includeUser bool) asynqmon.PayloadFormatter {
	return asynqmon.PayloadFormatterFunc(func(_ string, payload []byte) string {
		if includeUser {
			return string(payload)
		}
		var v any
		if err := json.Unmarshal(payload, &v); err != nil {
			return fmt.Sprintf("[%d bytes, not shown]", len(payload))
		}
		b, err := json.Marshal(hideUsers(v))
		if err != nil {
			return fmt.Sprintf("[%d bytes, not shown]", len(payload))
		}
		return string(b)
	})
}

// hideUsers replaces the fields of every "user" object but a keyed hash
// (a webhook body's "ref").
func hideUsers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if u, ok := e.(map[string]any); ok && k == "user" {
				for f := range u {
					if f != "ref" {
						u[f] = hiddenUser
					}
				}
				continue
			}
			t[k] = hideUsers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = hideUsers(e)
		}
	}
	return v
}

// uiHosts are the names besides IP addresses and localhost that the UI
// answers to: the listen address's own, and http.allowed_hosts.
func uiHosts(h config.HTTP) []string {
	hosts := append([]string{}, h.AllowedHosts...)
	if host, _, err := net.SplitHostPort(h.Listen); err == nil && host != "" {
		hosts = append(hosts, host)
	}
	return hosts
}
