// Command resetq is the one binary of resetq: the worker, the command line
// that enqueues resets and checks and resumes providers, and `resetq dev`,
// which runs everything in one process against emulated identity providers.
//
// It is wiring only: it reads the configuration, picks the concrete
// providers, and hands them to the worker and producer packages.
package main
