package idp

// UserRefs is a set of the fields a provider can find a user by. Each
// provider package declares its own (keycloak.Accepts, keygen.Accepts), so
// that requests it cannot serve are refused when they are enqueued, not
// when they run.
type UserRefs uint8

// The fields of a UserRef.
const (
	ByEmail UserRefs = 1 << iota
	ByUsername
	ByID
	// AnyUserRef is every field.
	AnyUserRef = ByEmail | ByUsername | ByID
)

var userRefNames = [...]struct {
	ref  UserRefs
	name string
}{{ByEmail, "email"}, {ByUsername, "username"}, {ByID, "id"}}

// Names returns the fields in s as the payload names them ("email",
// "username", "id"), in that order.
func (s UserRefs) Names() []string {
	var out []string
	for _, r := range userRefNames {
		if s&r.ref != 0 {
			out = append(out, r.name)
		}
	}
	return out
}

// Has reports whether s holds the field ref names its user by.
func (s UserRefs) Has(ref UserRef) bool {
	switch {
	case ref.Email != "":
		return s&ByEmail != 0
	case ref.Username != "":
		return s&ByUsername != 0
	case ref.ID != "":
		return s&ByID != 0
	}
	return false
}
