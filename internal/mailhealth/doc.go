// Package mailhealth tells a relay that is down from one mailbox it
// refuses, for IdPs that send the reset mail themselves and report every
// failure to hand it to their relay with the same answer (Keycloak's
// "Error when attempting to send the email to the server" covers a relay
// that is unreachable, one that refuses the IdP's login, one that
// throttles, and a 550 for one recipient).
//
// Two signs separate them, shared by every worker process through Redis:
//
//   - the streak: how many different tasks failed since the provider's
//     last delivered mail. Many in a row, none delivered in between, is the
//     realm's mail as a whole: the provider halts.
//   - the task's own failures, and whether the relay delivered anyone's
//     mail since the first of them. A task refused again and again while
//     the relay takes others' mail is that recipient: it is skipped. One
//     that fails while nothing at all goes out may be caught in an outage.
//
// A relay that throttles a share of the mail looks like many refused
// recipients; Window's counts let the caller refuse to call a recipient
// refused while the relay fails a large share of everyone's mail.
package mailhealth
