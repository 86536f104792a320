// Package dupwindow is a provider's duplicate window: the claim "a reset
// for this user went out recently", shared by every worker through Redis.
// A second reset of the same user inside the window is skipped
// (recently_reset) without calling the IdP.
package dupwindow
