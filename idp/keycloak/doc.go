// Package keycloak sends password resets through Keycloak's admin API.
//
// A reset is PUT /admin/realms/{realm}/users/{id}/execute-actions-email with
// the actions as a bare JSON array (["UPDATE_PASSWORD"]): Keycloak mails the
// user a link that lets them set a new password. A user named by email or
// username is first found with an exact, brief, max=2 search, and must match
// exactly one user, ignoring case.
//
// The admin token comes from the realm's token endpoint, by client
// credentials (a confidential client with a service account holding
// realm-management/manage-users) or by the password grant (admin-cli). It is
// cached, refreshed when a fifth of its life is left, fetched by one
// goroutine at a time, and fetched again once when an admin call answers
// 401.
//
// Every failure Keycloak reports (reference/keycloak.md §2d and §4) is read
// from whichever of its four error body shapes it came in and turned into an
// *idp.Error of the right Kind; halting kinds carry a Hint that says what to
// fix.
package keycloak
