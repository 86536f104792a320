// Command gen writes the PrometheusRule manifest from the alert rules:
// gen ALERTS.yml OUT.yaml.
package main

import (
	"os"

	"github.com/resetq/resetq/internal/genfile"
	"github.com/resetq/resetq/internal/promrule"
)

func main() {
	genfile.Main("gen ALERTS.yml OUT.yaml", 1, func(in []string) ([]byte, error) {
		alerts, err := os.ReadFile(in[0])
		if err != nil {
			return nil, err
		}
		return promrule.FromAlerts(alerts)
	})
}
