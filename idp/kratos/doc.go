// Package kratos sends password resets through Ory Kratos (self-hosted, or
// Ory Network's project API).
//
// Kratos' admin API can create a recovery code or link but sends nothing,
// so a reset drives the public self-service recovery flow the way a user's
// "forgot password" page does: GET /self-service/recovery/api starts an
// API flow, and POST /self-service/recovery?flow=… with the method and the
// email moves it to sent_email, after which Kratos' courier mails the
// user. The mail signs the user in and leads to the settings flow, where
// they choose a new password; the old one keeps working until then.
//
// The method is link by default: the mail carries a link that does all
// that by itself. Kratos leaves the link method off by default
// (selfservice.methods.link.enabled), and a reset on such a server halts
// with that hint. A code is bound to the flow it was issued in, which
// resetq started and the user never sees: Kratos' stock code mail is of
// no use to them. Method code therefore needs a recovery_code template
// that links to the flow, which every reset sends as
// transient_payload.flow_id; Check says so.
//
// The flow answers alike for every address and mails nothing to one no
// identity has, so with VerifyUser an email is first looked up through the
// admin API (GET /admin/identities?credentials_identifier=…): none is
// user_not_found, several ambiguous_user, an inactive identity
// user_disabled. A user named by id is read from the admin API for its
// email recovery address. Kratos has no throttle of its own: resetq's rate
// limit is what paces it.
//
// Errors come as a generic document ({"error": {id, reason, …}}) or as the
// flow with messages on its form: message 4000001 and its kin (an invalid
// address) fail the task; 4010005 (no strategy for the method), a method
// turned off and recovery turned off halt the provider; and a flow that expired between
// its start and its submission is retried with a new one. Messages can
// quote the address, so only their ids are reported.
package kratos
