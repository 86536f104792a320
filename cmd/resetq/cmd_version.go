package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resetq/resetq/internal/version"
)

func newVersionCmd(g *global) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v, rev, gov := version.Info()
			return writeOut(g, map[string]string{"version": v, "revision": rev, "go": gov}, func(w io.Writer) {
				fmt.Fprintf(w, "resetq %s (revision %s, %s)\n", v, rev, gov)
			})
		},
	}
}
