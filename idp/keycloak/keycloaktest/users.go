package keycloaktest

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// userRep is a UserRepresentation in the field order Keycloak 26 writes,
// with empty strings left out. Brief representations drop totp,
// disableableCredentialTypes, requiredActions and notBefore.
type userRep struct {
	ID                         string          `json:"id"`
	Username                   string          `json:"username"`
	FirstName                  string          `json:"firstName,omitempty"`
	LastName                   string          `json:"lastName,omitempty"`
	Email                      string          `json:"email,omitempty"`
	EmailVerified              bool            `json:"emailVerified"`
	Enabled                    bool            `json:"enabled"`
	CreatedTimestamp           int64           `json:"createdTimestamp"`
	Totp                       *bool           `json:"totp,omitempty"`
	DisableableCredentialTypes *[]string       `json:"disableableCredentialTypes,omitempty"`
	RequiredActions            *[]string       `json:"requiredActions,omitempty"`
	NotBefore                  *int            `json:"notBefore,omitempty"`
	Access                     map[string]bool `json:"access"`
}

func represent(u *User, brief bool, r roles) userRep {
	rep := userRep{
		ID: u.ID, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName,
		Email: u.Email, EmailVerified: u.EmailVerified, Enabled: u.Enabled,
		CreatedTimestamp: u.CreatedAt.UnixMilli(),
	}
	if brief {
		rep.Access = map[string]bool{"manage": r.manage}
		return rep
	}
	totp, nb := false, 0
	dct := []string{}
	ra := append([]string{}, u.RequiredActions...)
	rep.Totp, rep.DisableableCredentialTypes, rep.RequiredActions, rep.NotBefore = &totp, &dct, &ra, &nb
	rep.Access = map[string]bool{
		"manageGroupMembership": r.manage, "resetPassword": r.manage, "view": r.view,
		"mapRoles": r.manage, "impersonate": r.manage, "manage": r.manage,
	}
	return rep
}

// javaBool is JAX-RS's Boolean conversion: "true" in any case is true,
// anything else false, never an error.
func javaBool(s string) bool { return strings.EqualFold(s, "true") }

// match compares one field the way Keycloak's user search does: exact
// (case-insensitive) with exact=true, substring otherwise.
func match(value, want string, exact bool) bool {
	value, want = strings.ToLower(value), strings.ToLower(want)
	if exact {
		return value == want
	}
	return strings.Contains(value, want)
}

// searchMatch applies the `search` parameter: "foo" (quoted) is exact,
// *foo* is infix, foo* and plain foo are prefix searches over username,
// email, first and last name.
func searchMatch(u *User, search string) bool {
	s := strings.ToLower(strings.TrimSpace(search))
	fields := []string{u.Username, u.Email, strings.ToLower(u.FirstName), strings.ToLower(u.LastName)}
	test := func(f string) bool { return strings.HasPrefix(f, strings.TrimSuffix(s, "*")) }
	switch {
	case len(s) >= 2 && strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`):
		exact := s[1 : len(s)-1]
		test = func(f string) bool { return f == exact }
	case strings.HasPrefix(s, "*"):
		inner := strings.Trim(s, "*")
		test = func(f string) bool { return strings.Contains(f, inner) }
	}
	for _, f := range fields {
		if test(f) {
			return true
		}
	}
	return false
}

// filterUsers returns the users matching the query, ordered by username.
// An exact email or username search goes through an index, as Keycloak's
// goes through a database index; everything else scans.
func filterUsers(realm *Realm, q url.Values) []*User {
	exact := javaBool(q.Get("exact"))
	candidates := realm.order
	if _, search := q["search"]; !search && exact {
		if v, ok := q["email"]; ok {
			candidates = realm.byEmail[strings.ToLower(v[0])]
		} else if v, ok := q["username"]; ok {
			candidates = nil
			if id, ok := realm.byUsername[strings.ToLower(v[0])]; ok {
				candidates = []string{id}
			}
		}
	}
	var out []*User
	for _, id := range candidates {
		u := realm.users[id]
		if s, ok := q["search"]; ok {
			if !searchMatch(u, s[0]) {
				continue
			}
		} else if !fieldsMatch(u, q, exact) {
			continue
		}
		if v, ok := q["enabled"]; ok && u.Enabled != javaBool(v[0]) {
			continue
		}
		if v, ok := q["emailVerified"]; ok && u.EmailVerified != javaBool(v[0]) {
			continue
		}
		out = append(out, u)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

func fieldsMatch(u *User, q url.Values, exact bool) bool {
	for _, f := range [...]struct{ param, value string }{
		{"email", u.Email}, {"username", u.Username}, {"firstName", u.FirstName}, {"lastName", u.LastName},
	} {
		if v, set := q[f.param]; set && !match(f.value, v[0], exact) {
			return false
		}
	}
	return true
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *caller, realm *Realm) {
	if !c.query {
		proseError(w, http.StatusForbidden, "HTTP 403 Forbidden")
		return
	}
	q := r.URL.Query()
	first, max := int32(0), int32(100)
	for name, dst := range map[string]*int32{"first": &first, "max": &max} {
		if v, ok := q[name]; ok {
			n, ok := parseInt32(v[0])
			if !ok {
				proseError(w, http.StatusNotFound, "HTTP 404 Not Found")
				return
			}
			*dst = n
		}
	}
	reps := []userRep{}
	if !c.view {
		// query-users opens the route, but every user is filtered out.
		writeJSON(w, http.StatusOK, reps)
		return
	}
	users := filterUsers(realm, q)
	if first < 0 {
		first = 0
	}
	if int(first) >= len(users) {
		users = nil
	} else {
		users = users[first:]
	}
	if max >= 0 && int(max) < len(users) {
		users = users[:max]
	}
	brief := javaBool(q.Get("briefRepresentation"))
	for _, u := range users {
		rep := represent(u, brief, c.roles)
		if !brief {
			// In a list, access holds only "manage" even in full form.
			rep.Access = map[string]bool{"manage": c.manage}
		}
		reps = append(reps, rep)
	}
	writeJSON(w, http.StatusOK, reps)
}
