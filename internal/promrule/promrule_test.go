package promrule_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/resetq/resetq/internal/promrule"
)

const (
	alerts   = "../../deploy/prometheus/alerts.yml"
	manifest = "../../deploy/kubernetes/components/monitoring/prometheusrule.yaml"
)

func TestTheManifestIsGeneratedFromTheAlertRules(t *testing.T) {
	in, err := os.ReadFile(alerts)
	require.NoError(t, err)
	want, err := promrule.FromAlerts(in)
	require.NoError(t, err)
	got, err := os.ReadFile(manifest)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "run: go generate ./internal/promrule")

	// The same groups, rule for rule.
	var rules, rule struct {
		Groups []map[string]any `yaml:"groups"`
		Spec   struct {
			Groups []map[string]any `yaml:"groups"`
		} `yaml:"spec"`
		Kind string `yaml:"kind"`
	}
	require.NoError(t, yaml.Unmarshal(in, &rules))
	require.NoError(t, yaml.Unmarshal(got, &rule))
	require.Equal(t, "PrometheusRule", rule.Kind)
	require.NotEmpty(t, rules.Groups)
	require.Equal(t, rules.Groups, rule.Spec.Groups)

	_, err = promrule.FromAlerts([]byte("groups: 3"))
	require.ErrorContains(t, err, "no groups")
}
