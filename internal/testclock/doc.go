// Package testclock is a clock a test moves by hand, for code that takes
// its time from a func() time.Time (emulators, trackers) and must not
// wait for the real one.
package testclock
