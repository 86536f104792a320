package dashboards_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/dashboards"
)

const file = "../../dashboards/resetq-overview.json"

func TestTheCommittedDashboardIsGenerated(t *testing.T) {
	t.Parallel()
	want, err := dashboards.Overview()
	require.NoError(t, err)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "run: go generate ./internal/dashboards")
}

func TestDashboardShape(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var d struct {
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.Equal(t, "resetq-overview", d.UID)
	require.GreaterOrEqual(t, d.SchemaVersion, 36, "Grafana 10 or newer")
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	require.Equal(t, []string{"datasource", "provider", "queue", "campaign"}, vars)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		require.False(t, ids[p.ID], "panel ids are unique")
		ids[p.ID] = true
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type != "row" {
			require.Equal(t, "${datasource}", p.Datasource.UID, p.Title)
		}
	}
}
