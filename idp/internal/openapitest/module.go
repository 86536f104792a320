package openapitest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// ModuleFile returns the path of file inside a Go module (module@version),
// fetched through the module proxy into the module cache: vendors ship
// their API documents inside their SDKs (Okta's OpenAPI document, AWS's
// service models), which are not dependencies of resetq's build.
func ModuleFile(t testing.TB, module, file string) string {
	t.Helper()
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	out, err := exec.CommandContext(t.Context(), goBin, "mod", "download", "-json", module).Output()
	require.NoError(t, err, "fetching %s through the module proxy", module)
	var mod struct{ Dir, Error string }
	require.NoError(t, json.Unmarshal(out, &mod))
	require.Empty(t, mod.Error)
	return filepath.Join(mod.Dir, file)
}
