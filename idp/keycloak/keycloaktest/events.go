package keycloaktest

import (
	"net/http"
	"slices"
	"strconv"
)

// events serves the realm's events settings and its admin events, both
// behind view-events (RealmAdminResource.getRealmEventsConfig and
// getEvents). The list is newest first; the filters resetq uses are
// applied: operationTypes, resourceTypes, resourcePath (exact), dateFrom
// (epoch milliseconds), first and max.
func (s *Server) events(w http.ResponseWriter, r *http.Request, ep Endpoint, c *caller, realm *Realm) {
	if !c.events {
		proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
		return
	}
	if ep == EndpointEventsConfig {
		writeJSON(w, http.StatusOK, map[string]any{"eventsEnabled": false, "eventsListeners": []string{"jboss-logging"},
			"enabledEventTypes": []string{}, "adminEventsEnabled": realm.AdminEventsEnabled, "adminEventsDetailsEnabled": false})
		return
	}
	q := r.URL.Query()
	var from int64
	if v := q.Get("dateFrom"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			// [infer] a date Keycloak cannot read
			errorMessage(w, http.StatusBadRequest, "Invalid value for 'Date(From)', expected format is yyyy-MM-dd")
			return
		}
		from = n
	}
	first, max := 0, 100
	if v, err := strconv.Atoi(q.Get("first")); err == nil && v >= 0 {
		first = v
	}
	if v, err := strconv.Atoi(q.Get("max")); err == nil && v >= 0 {
		max = v
	}
	out := []adminEvent{}
	for i := len(realm.adminEvents) - 1; i >= 0; i-- {
		e := realm.adminEvents[i]
		switch {
		case len(q["operationTypes"]) > 0 && !slices.Contains(q["operationTypes"], e.OperationType),
			len(q["resourceTypes"]) > 0 && !slices.Contains(q["resourceTypes"], e.ResourceType),
			q.Has("resourcePath") && q.Get("resourcePath") != e.ResourcePath,
			e.Time < from:
			continue
		}
		out = append(out, e)
	}
	if first >= len(out) {
		out = out[:0]
	} else {
		out = out[first:]
	}
	if len(out) > max {
		out = out[:max]
	}
	writeJSON(w, http.StatusOK, out)
}
