package genfile

import (
	"fmt"
	"os"
)

// Main runs a generator invoked as `gen INPUT... OUT`: with inputs more
// arguments it calls gen with them and writes what it returns to OUT; any
// other count prints usage and exits 2, an error exits 1.
func Main(usage string, inputs int, gen func(inputs []string) ([]byte, error)) {
	args := os.Args[1:]
	if len(args) != inputs+1 {
		fmt.Fprintln(os.Stderr, "usage:", usage)
		os.Exit(2)
	}
	b, err := gen(args[:inputs])
	if err == nil {
		err = os.WriteFile(args[inputs], b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
