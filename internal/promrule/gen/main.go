// Command gen writes the PrometheusRule manifest from the alert rules:
// gen ALERTS.yml OUT.yaml.
package main

import (
	"fmt"
	"os"

	"github.com/resetq/resetq/internal/promrule"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen ALERTS.yml OUT.yaml")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err == nil {
		var out []byte
		if out, err = promrule.FromAlerts(in); err == nil {
			err = os.WriteFile(os.Args[2], out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
