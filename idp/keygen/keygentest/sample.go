package keygentest

import "github.com/resetq/resetq/idp/internal/emulator"

// Sample describes the users AddSampleUsers created.
type Sample struct {
	// Emails of ordinary users.
	Emails []string
	// Banned are emails of banned users.
	Banned []string
	// Managed is a user with no password yet (a managed user).
	Managed string
}

// AddSampleUsers fills an account with n users: most ordinary, every tenth
// banned, and one managed user without a password.
func (s *Server) AddSampleUsers(a *Account, n int) Sample {
	var out Sample
	for i, su := range emulator.SampleUsers(n) {
		u := User{Email: su.Email, FirstName: su.FirstName, LastName: su.LastName, Banned: su.Off,
			Password: "sample-password-" + su.LastName}
		if i == 1 {
			u.Password = ""
			out.Managed = u.Email
		}
		s.AddUser(a, u)
		if u.Banned {
			out.Banned = append(out.Banned, u.Email)
		} else {
			out.Emails = append(out.Emails, u.Email)
		}
	}
	return out
}
