// Package firebase sends password resets through Firebase Authentication
// (Google Cloud Identity Platform), by its Identity Toolkit REST API.
//
// A reset is accounts:sendOobCode with requestType PASSWORD_RESET: Firebase
// mails the user a link to its password-reset page (the project's template,
// its action URL and, when set, a continue URL back to the application).
// The user's password keeps working until they choose a new one.
//
// resetq calls it one of two ways. As an admin, with a service account's
// OAuth 2.0 token (the role Firebase Authentication Admin), the call is
// POST /v1/projects/{project}/accounts:sendOobCode, and users can also be
// looked up (accounts:lookup): by id, and by email first with VerifyUser.
// With only a Web API key, the call is the client's POST
// /v1/accounts:sendOobCode?key=…, for users named by email.
//
// Unknown addresses come back two ways. A project with email enumeration
// protection (the default for projects created since September 2023)
// answers 200 and mails nothing, so only VerifyUser's lookup can tell:
// none is user_not_found, a disabled account user_disabled. Without the
// protection the send answers 400 EMAIL_NOT_FOUND, which is
// user_not_found too.
//
// Errors are Google's JSON document {"error": {code, message, status,
// errors}}, whose message is a code (EMAIL_NOT_FOUND, or "TOO_MANY_ATTEMPTS_TRY_LATER
// : …" with a detail): the table in errors.go maps each to an outcome. The
// Firebase Auth emulator (firebase-tools) is what the tests run against, as
// the real server; its admin credential is the bearer "owner".
package firebase
