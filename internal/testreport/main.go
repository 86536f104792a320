package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	slowest := flag.Int("slowest", 10, "how many of the slowest tests to print")
	keep := flag.String("json", "", "also write the events to this file")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: testreport [-slowest N] [-json FILE] -- go test -json ARGS…")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	// Ctrl-C reaches the command too (one process group): let it print
	// what failed and stop, and report on that.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	os.Exit(run(flag.Args(), *slowest, *keep, os.Stdout, os.Stderr))
}

// run runs the command, reporting on its events, and returns the exit
// status.
func run(args []string, slowest int, keep string, stdout, stderr io.Writer) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = stderr
	events, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testreport:", err)
		return 2
	}
	var in io.Reader = events
	if keep != "" {
		f, err := os.Create(keep)
		if err != nil {
			fmt.Fprintln(stderr, "testreport:", err)
			return 2
		}
		defer f.Close()
		in = io.TeeReader(events, f)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testreport:", err)
		return 2
	}
	r := newReport(bufio.NewWriter(stdout))
	readErr := r.read(in)
	waitErr := cmd.Wait()
	r.took = time.Since(start)
	r.printSlowest(slowest)
	if err := r.flush(); err != nil {
		fmt.Fprintln(stderr, "testreport:", err)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(waitErr, &exit):
		return exit.ExitCode()
	case waitErr != nil:
		fmt.Fprintln(stderr, "testreport:", waitErr)
		return 2
	case readErr != nil:
		fmt.Fprintln(stderr, "testreport: reading the events:", readErr)
		return 2
	case r.failed:
		return 1
	}
	return 0
}
