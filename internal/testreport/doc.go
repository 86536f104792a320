// Command testreport runs `go test -json`, prints what plain `go test`
// would (a line per package, and the output of the tests that failed), and
// then the slowest tests: `make test`.
//
//	testreport [-slowest 10] [-json FILE] -- go test -json ARGS…
//
// It exits with the command's status, or 1 if the command exited 0 while a
// test or a build failed. -json keeps every event in FILE, for comparing
// runs.
package main
