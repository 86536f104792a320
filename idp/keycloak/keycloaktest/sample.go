package keycloaktest

import "github.com/resetq/resetq/idp/internal/emulator"

// AddServiceAccount adds a confidential client with a service account
// holding roles on realm-management of realm (manage-users when none are
// given): the setup resetq's README asks for.
func (s *Server) AddServiceAccount(realm, clientID, secret string, roles ...string) {
	if len(roles) == 0 {
		roles = []string{RoleManageUsers}
	}
	s.AddRealm(realm)
	s.AddClient(realm, Client{
		ClientID: clientID, Secret: secret, Enabled: true, ServiceAccountEnabled: true,
		Grants: map[string][]string{realm: roles},
	})
}

// Sample describes the users AddSampleUsers created.
type Sample struct {
	// Emails of enabled users with an address: resets succeed.
	Emails []string
	// Disabled are emails of disabled users: resets are skipped.
	Disabled []string
	// NoEmail is the username of a user without an email address.
	NoEmail string
	// Plus is an address with a "+" in it, which must survive URL encoding.
	Plus string
}

// AddSampleUsers fills realm with n users: most ordinary, every tenth
// disabled, one without an email, and one with a "+" address.
func (s *Server) AddSampleUsers(realm string, n int) Sample {
	s.AddRealm(realm)
	var out Sample
	for i, su := range emulator.SampleUsers(n) {
		u := User{Username: su.Username, Email: su.Email, FirstName: su.FirstName, LastName: su.LastName,
			Enabled: !su.Off, EmailVerified: true}
		switch {
		case i == 0:
			u.Email = "user0001+reset@example.com"
			out.Plus = u.Email
		case i == 1:
			u.Email = ""
			out.NoEmail = u.Username
		case su.Off:
			out.Disabled = append(out.Disabled, u.Email)
		}
		s.AddUser(realm, u)
		if u.Enabled && u.Email != "" {
			out.Emails = append(out.Emails, u.Email)
		}
	}
	return out
}
