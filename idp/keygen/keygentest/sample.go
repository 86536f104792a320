package keygentest

import "fmt"

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
	for i := 1; i <= n; i++ {
		u := User{Email: fmt.Sprintf("user%04d@example.com", i), FirstName: "User", LastName: fmt.Sprintf("%04d", i),
			Password: fmt.Sprintf("sample-password-%04d", i)}
		switch {
		case i == 2:
			u.Password = ""
			out.Managed = u.Email
		case i%10 == 0:
			u.Banned = true
			out.Banned = append(out.Banned, u.Email)
		}
		s.AddUser(a, u)
		if !u.Banned {
			out.Emails = append(out.Emails, u.Email)
		}
	}
	return out
}
