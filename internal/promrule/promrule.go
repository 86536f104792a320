// Package promrule turns the alert rules in deploy/prometheus/alerts.yml
// into the PrometheusRule object the Prometheus Operator loads, so
// Kubernetes runs the very rules the promtool tests check. The manifest in
// deploy/kubernetes/components/monitoring is generated from here
// (go generate ./internal/promrule) and a test keeps the two the same.
package promrule

//go:generate go run ./gen ../../deploy/prometheus/alerts.yml ../../deploy/kubernetes/components/monitoring/prometheusrule.yaml

import (
	"bytes"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// header starts the generated manifest.
const header = "# Generated from deploy/prometheus/alerts.yml by `go generate ./internal/promrule`: edit that file.\n"

// FromAlerts returns the PrometheusRule manifest holding the groups of a
// Prometheus rules file.
func FromAlerts(rules []byte) ([]byte, error) {
	var doc struct {
		Groups yaml.Node `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &doc); err != nil {
		return nil, fmt.Errorf("alert rules: %w", err)
	}
	if doc.Groups.Kind != yaml.SequenceNode {
		return nil, errors.New("alert rules: no groups")
	}
	out := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": "resetq", "labels": map[string]string{"app.kubernetes.io/name": "resetq"}},
		"spec":       map[string]any{"groups": &doc.Groups},
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
