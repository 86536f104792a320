package tasks

import (
	"fmt"
	"slices"
	"strings"
)

// ActionUpdatePassword is the action every reset carries unless it says
// otherwise.
const ActionUpdatePassword = "UPDATE_PASSWORD"

// KnownActions are the required-action provider ids built into Keycloak 22–26
// that can be sent in an execute-actions email. Keycloak itself rejects any
// other id with 400 "Provided invalid required actions", so resetq refuses
// them at enqueue time instead of learning it one task at a time.
var KnownActions = []string{
	"UPDATE_PASSWORD",
	"VERIFY_EMAIL",
	"UPDATE_PROFILE",
	"UPDATE_EMAIL",
	"CONFIGURE_TOTP",
	"TERMS_AND_CONDITIONS",
	"CONFIGURE_RECOVERY_AUTHN_CODES",
	"VERIFY_PROFILE",
	"delete_account",
	"delete_credential",
	"webauthn-register",
	"webauthn-register-passwordless",
}

// ValidateAction checks that a is one of KnownActions.
func ValidateAction(a string) error {
	if slices.Contains(KnownActions, a) {
		return nil
	}
	for _, k := range KnownActions {
		if strings.EqualFold(k, a) {
			return fmt.Errorf("unknown action %q (did you mean %s? action names are case-sensitive)", a, k)
		}
	}
	return fmt.Errorf("unknown action %q (known: %s)", a, strings.Join(KnownActions, ", "))
}
