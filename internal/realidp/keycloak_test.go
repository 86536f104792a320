package realidp

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fetching the distribution, against a Maven repository of our own: no
// download, so `make test` runs it.

// fakeMaven serves zips as Maven Central does, at
// /org/keycloak/keycloak-quarkus-dist/<version>/…, with a .sha1 beside each
// (sums overrides one), and counts the zips it sent.
func fakeMaven(t *testing.T, zips map[string][]byte, sums map[string]string) *atomic.Int32 {
	t.Helper()
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for version, b := range zips {
			name := "/org/keycloak/keycloak-quarkus-dist/" + version + "/keycloak-quarkus-dist-" + version + ".zip"
			switch r.URL.Path {
			case name:
				sent.Add(1)
				_, _ = w.Write(b)
				return
			case name + ".sha1":
				sum, ok := sums[version]
				if !ok {
					h := sha1.Sum(b)
					sum = hex.EncodeToString(h[:])
				}
				_, _ = io.WriteString(w, sum)
				return
			}
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv(EnvMavenRepo, srv.URL+"/")
	t.Setenv("RESETQ_CACHE_DIR", t.TempDir())
	return &sent
}

func zipOf(t *testing.T, files map[string]os.FileMode) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, mode := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = io.WriteString(w, "#!/bin/sh\n")
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestFetchKeycloakUnpacksAVerifiedDownloadOnce(t *testing.T) {
	sent := fakeMaven(t, map[string][]byte{"9.9.9": zipOf(t, map[string]os.FileMode{
		"keycloak-9.9.9/bin/kc.sh":     0o755,
		"keycloak-9.9.9/conf/kc.conf":  0o644,
		"keycloak-9.9.9/lib/run.jar":   0o644,
		"keycloak-9.9.9/themes/README": 0o644,
	})}, nil)

	home, err := FetchKeycloak(t.Context(), "9.9.9")
	require.NoError(t, err)
	require.Equal(t, "keycloak-9.9.9", filepath.Base(home))
	fi, err := os.Stat(filepath.Join(home, "bin", "kc.sh"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(home, "conf", "kc.conf"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	again, err := FetchKeycloak(t.Context(), "9.9.9")
	require.NoError(t, err)
	require.Equal(t, home, again)
	require.Equal(t, int32(1), sent.Load())
	entries, err := os.ReadDir(filepath.Dir(home))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{".lock", "keycloak-9.9.9"}, names, "no download or unpacking folder is left")
}

func TestFetchKeycloakRefusesBadDownloads(t *testing.T) {
	fakeMaven(t, map[string][]byte{
		"1.0.0-badsum": zipOf(t, map[string]os.FileMode{"keycloak-1.0.0-badsum/bin/kc.sh": 0o755}),
		"1.0.0-escape": zipOf(t, map[string]os.FileMode{"keycloak-1.0.0-escape/bin/kc.sh": 0o755, "../../escaped": 0o644}),
		"1.0.0-nokc":   zipOf(t, map[string]os.FileMode{"something-else/bin/kc.sh": 0o755}),
	}, map[string]string{"1.0.0-badsum": strings.Repeat("ab", 20)})
	repo := os.Getenv(EnvMavenRepo)

	_, err := FetchKeycloak(t.Context(), "1.0.0-badsum")
	require.ErrorContains(t, err, "downloading "+repo+"org/keycloak/keycloak-quarkus-dist/1.0.0-badsum/keycloak-quarkus-dist-1.0.0-badsum.zip: SHA-1 ")
	require.ErrorContains(t, err, ".sha1 says abab")

	_, err = FetchKeycloak(t.Context(), "1.0.0-escape")
	require.ErrorContains(t, err, `entry "../../escaped" would land outside the folder`)

	_, err = FetchKeycloak(t.Context(), "1.0.0-nokc")
	require.ErrorContains(t, err, "does not unpack to keycloak-1.0.0-nokc/bin/kc.sh")

	_, err = FetchKeycloak(t.Context(), "1.0.0-missing")
	require.ErrorContains(t, err, "keycloak-quarkus-dist-1.0.0-missing.zip.sha1: 404 Not Found")

	_, err = FetchKeycloak(t.Context(), "../1.0.0")
	require.ErrorContains(t, err, `invalid version "../1.0.0"`)

	cache := os.Getenv("RESETQ_CACHE_DIR")
	_, err = os.Stat(filepath.Join(cache, "escaped"))
	require.ErrorIs(t, err, os.ErrNotExist)
	entries, err := os.ReadDir(filepath.Join(cache, "keycloak"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the lock is left: %v", entries)
}
