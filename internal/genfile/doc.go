// Package genfile is the main of the go:generate commands that write one
// generated file: the usage check, the write and the exit codes.
package genfile
