package realidp

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/resetq/resetq/internal/freeport"
)

// KeycloakVersion is the Keycloak release the real-server tests and the
// devstack run.
const KeycloakVersion = "26.7.3"

// keycloakJava is the oldest Java that Keycloak 26 runs on.
const keycloakJava = 21

// Environment variables this file reads.
const (
	// EnvMavenRepo overrides the Maven repository Keycloak is downloaded
	// from (a mirror or a proxy); default Maven Central.
	EnvMavenRepo = "RESETQ_MAVEN_REPO"
	// EnvKeycloakURL points SharedKeycloak at a running Keycloak instead of
	// starting one.
	EnvKeycloakURL = "RESETQ_KEYCLOAK_URL"
	// EnvKeycloakAdmin and EnvKeycloakAdminPassword are that Keycloak's
	// master-realm admin (default admin/admin).
	EnvKeycloakAdmin         = "RESETQ_KEYCLOAK_ADMIN"
	EnvKeycloakAdminPassword = "RESETQ_KEYCLOAK_ADMIN_PASSWORD"
)

const defaultMavenRepo = "https://repo1.maven.org/maven2"

// FetchKeycloak returns the folder of Keycloak's server distribution
// version, downloading it from Maven Central on first use into
// <CacheDir>/keycloak/keycloak-<version>. The download is checked against
// the SHA-1 Maven publishes beside it. A file lock makes parallel callers,
// in this process or others, download once.
func FetchKeycloak(ctx context.Context, version string) (home string, err error) {
	if version == "" || strings.ContainsAny(version, `/\`) || strings.HasPrefix(version, ".") {
		return "", fmt.Errorf("fetching Keycloak: invalid version %q", version)
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "keycloak")
	home = filepath.Join(dir, "keycloak-"+version)
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", fmt.Errorf("fetching Keycloak %s: %w", version, err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(home, "bin", "kc.sh")); err == nil {
		return home, nil
	}

	repo := strings.TrimSuffix(os.Getenv(EnvMavenRepo), "/")
	if repo == "" {
		repo = defaultMavenRepo
	}
	url := fmt.Sprintf("%s/org/keycloak/keycloak-quarkus-dist/%s/keycloak-quarkus-dist-%s.zip", repo, version, version)
	want, err := fetchSHA1(ctx, url+".sha1")
	if err != nil {
		return "", err
	}
	zipPath, err := downloadChecked(ctx, url, dir, want)
	if err != nil {
		return "", err
	}
	defer os.Remove(zipPath)

	tmp, err := os.MkdirTemp(dir, ".unpack-")
	if err != nil {
		return "", fmt.Errorf("unpacking %s: %w", url, err)
	}
	defer os.RemoveAll(tmp)
	if err := unzip(zipPath, tmp); err != nil {
		return "", fmt.Errorf("unpacking %s: %w", url, err)
	}
	top := filepath.Join(tmp, "keycloak-"+version)
	if _, err := os.Stat(filepath.Join(top, "bin", "kc.sh")); err != nil {
		return "", fmt.Errorf("%s does not unpack to keycloak-%s/bin/kc.sh", url, version)
	}
	if err := os.Rename(top, home); err != nil {
		return "", fmt.Errorf("installing %s: %w", url, err)
	}
	return home, nil
}

// fetchSHA1 reads a Maven .sha1 file: the hex digest, sometimes followed by
// the file's name.
func fetchSHA1(ctx context.Context, url string) (string, error) {
	body, err := httpGet(ctx, url)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 1024))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", url, err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || len(fields[0]) != 2*sha1.Size {
		return "", fmt.Errorf("%s holds no SHA-1 digest: %q", url, tail(b, 1))
	}
	if _, err := hex.DecodeString(fields[0]); err != nil {
		return "", fmt.Errorf("%s holds no SHA-1 digest: %q", url, fields[0])
	}
	return strings.ToLower(fields[0]), nil
}

// downloadChecked saves url to a temporary file in dir and returns its
// path when its SHA-1 is want.
func downloadChecked(ctx context.Context, url, dir, want string) (string, error) {
	body, err := httpGet(ctx, url)
	if err != nil {
		return "", err
	}
	defer body.Close()
	f, err := os.CreateTemp(dir, ".download-*.zip")
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	h := sha1.New()
	_, err = io.Copy(io.MultiWriter(f, h), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		os.Remove(f.Name())
		return "", fmt.Errorf("downloading %s: SHA-1 %s, but %s.sha1 says %s", url, got, url, want)
	}
	return f.Name(), nil
}

func httpGet(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("downloading %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.Body, nil
}

// unzip writes the archive's files under dir with their permission bits
// (kc.sh must stay executable), refusing entries that would land outside
// dir and links.
func unzip(zipPath, dir string) error {
	r, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, f := range r.File {
		if err := unzipEntry(f, dir); err != nil {
			return err
		}
	}
	return nil
}

func unzipEntry(f *zip.File, dir string) error {
	name := filepath.FromSlash(f.Name)
	if !filepath.IsLocal(name) {
		return fmt.Errorf("entry %q would land outside the folder", f.Name)
	}
	path := filepath.Join(dir, name)
	mode := f.Mode()
	switch {
	case mode.IsDir():
		return os.MkdirAll(path, 0o755)
	case !mode.IsRegular():
		return fmt.Errorf("entry %q is not a regular file (%s)", f.Name, mode.Type())
	}
	perm := mode.Perm() | 0o600
	if mode.Perm() == 0 {
		perm = 0o644 // an archive without Unix modes
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	in, err := f.Open()
	if err != nil {
		return fmt.Errorf("entry %q: %w", f.Name, err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", f.Name, err)
	}
	return nil
}

// KeycloakConfig says how StartKeycloak runs Keycloak.
type KeycloakConfig struct {
	// Version is the Keycloak release; default KeycloakVersion.
	Version string
	// AdminUser and AdminPassword are the master realm's bootstrap admin.
	// Default: "admin" and a random password (Admin reads it back), so a
	// server left on a shared machine is not open to admin/admin.
	AdminUser, AdminPassword string
	// ThemesDir, when set, is a folder of extra themes (one folder per
	// theme, as in the distribution's themes/) that Keycloak loads.
	ThemesDir string
	// StartTimeout bounds the start until Keycloak is ready; default 4m.
	// A first start on a fresh distribution takes over a minute on a
	// small machine.
	StartTimeout time.Duration
	// ExtraArgs are added to `kc.sh start-dev`'s arguments.
	ExtraArgs []string
}

func (c KeycloakConfig) withDefaults() (KeycloakConfig, error) {
	if c.Version == "" {
		c.Version = KeycloakVersion
	}
	if c.AdminUser == "" {
		c.AdminUser = "admin"
	}
	if c.AdminPassword == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return c, err
		}
		c.AdminPassword = hex.EncodeToString(b)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 4 * time.Minute
	}
	return c, nil
}

func (c KeycloakConfig) validate() error {
	if c.StartTimeout < 0 {
		return fmt.Errorf("KeycloakConfig.StartTimeout: %s is negative", c.StartTimeout)
	}
	if c.ThemesDir != "" {
		if !filepath.IsAbs(c.ThemesDir) {
			return fmt.Errorf("KeycloakConfig.ThemesDir: %s is not an absolute path (Keycloak runs in its own folder)", c.ThemesDir)
		}
		if fi, err := os.Stat(c.ThemesDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("KeycloakConfig.ThemesDir: %s is not a folder", c.ThemesDir)
		}
	}
	return nil
}

// Keycloak is a running Keycloak: one this package started, or one
// ConnectKeycloak reached. Its admin methods (admin.go) are for setting up
// tests, not resetq's way of talking to Keycloak.
type Keycloak struct {
	url                      string
	adminUser, adminPassword string
	client                   *http.Client

	proc *process // nil when started elsewhere
	dir  string   // the log's temporary folder

	stopOnce sync.Once

	tokenMu  sync.Mutex
	token    string
	tokenExp time.Time
}

// StartKeycloak starts Keycloak in dev mode on free loopback ports, with
// an in-memory database (a clean state on every start), and returns once
// it is ready. The log goes to a file in a fresh temporary folder that Stop
// removes. A start whose ports were taken meanwhile is retried once.
func StartKeycloak(ctx context.Context, cfg KeycloakConfig) (*Keycloak, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	javaHome, _, err := FindJava(keycloakJava)
	if err != nil {
		return nil, fmt.Errorf("starting Keycloak %s: %w", cfg.Version, err)
	}
	home, err := FetchKeycloak(ctx, cfg.Version)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "resetq-keycloak-")
	if err != nil {
		return nil, fmt.Errorf("starting Keycloak %s: its log folder: %w", cfg.Version, err)
	}
	env := []string{
		"JAVA_HOME=" + javaHome,
		"KC_BOOTSTRAP_ADMIN_USERNAME=" + cfg.AdminUser,
		"KC_BOOTSTRAP_ADMIN_PASSWORD=" + cfg.AdminPassword,
	}
	if java, err := javaDyingWithParent(dir, javaHome); err == nil {
		env = append(env, "JAVA="+java)
	}
	kc, err := freeport.Start(2, 2, func(ports []int, _ int) (*Keycloak, error) {
		return startKeycloakOnce(ctx, cfg, home, dir, env, ports[0], ports[1])
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return kc, nil
}

// javaDyingWithParent writes a java wrapper that sets the parent-death
// signal. kc.sh runs java as a background child: process.go's
// Pdeathsig kills kc.sh when the starting process dies, and without
// this the JVM would outlive both (a test binary killed by its timeout).
func javaDyingWithParent(dir, javaHome string) (string, error) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "java")
	script := "#!/bin/sh\nexec " + strconv.Quote(setpriv) + " --pdeathsig KILL -- " +
		strconv.Quote(filepath.Join(javaHome, "bin", "java")) + ` "$@"` + "\n"
	return path, os.WriteFile(path, []byte(script), 0o755)
}

// startKeycloakOnce starts Keycloak on the two ports and waits until it is
// ready. Its error is a freeport.ErrTaken when a port was taken since
// freeport found it.
func startKeycloakOnce(ctx context.Context, cfg KeycloakConfig, home, dir string, env []string, httpPort, mgmtPort int) (*Keycloak, error) {
	args := []string{"start-dev",
		"--http-host=127.0.0.1", "--http-port=" + strconv.Itoa(httpPort),
		"--http-management-port=" + strconv.Itoa(mgmtPort),
		"--db=dev-mem", "--health-enabled=true",
		// Dev mode renders every mail's templates from the theme files
		// again; a production server caches them, and so does this one, or
		// sending mail costs it several times the CPU.
		"--spi-theme--cache-themes=true", "--spi-theme--cache-templates=true",
	}
	if cfg.ThemesDir != "" {
		// The format Keycloak's guide gives since 26.4: double dashes
		// between SPI, provider and property. 26.7.3 also reads the older
		// --spi-theme-folder-dir (tried), which is ambiguous in general.
		args = append(args, "--spi-theme--folder--dir="+cfg.ThemesDir)
	}
	args = append(args, cfg.ExtraArgs...)

	// The first start of a distribution rewrites its lib/ folder (Quarkus
	// re-augmentation): two starting at once may break it.
	unlock, err := lockFile(home + ".start.lock")
	if err != nil {
		return nil, err
	}
	defer unlock()

	logPath := filepath.Join(dir, "keycloak.log")
	if _, err := os.Stat(logPath); err == nil {
		_ = os.Rename(logPath, filepath.Join(dir, "keycloak.port-clash.log"))
	}
	p, err := startProcess("Keycloak", logPath, env, filepath.Join(home, "bin", "kc.sh"), args...)
	if err != nil {
		return nil, err
	}
	kc := &Keycloak{
		url:           "http://127.0.0.1:" + strconv.Itoa(httpPort),
		adminUser:     cfg.AdminUser,
		adminPassword: cfg.AdminPassword,
		client:        &http.Client{Timeout: time.Minute},
		proc:          p,
		dir:           dir,
	}
	health := "http://127.0.0.1:" + strconv.Itoa(mgmtPort) + "/health/ready"
	err = p.waitReady(ctx, cfg.StartTimeout, func(ctx context.Context) error {
		return httpReady(ctx, kc.client, health)
	})
	if err != nil {
		p.stop()
		log, _ := os.ReadFile(logPath)
		if strings.Contains(string(log), "already in use") || strings.Contains(string(log), "already bound") {
			err = fmt.Errorf("%w: %w", freeport.ErrTaken, err)
		}
		return nil, fmt.Errorf("starting Keycloak %s: %w", cfg.Version, err)
	}
	return kc, nil
}

// httpReady is nil when url answers 200.
func httpReady(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %w", url, resp.Status, errNotReady)
	}
	return nil
}

// ConnectKeycloak returns a Keycloak someone else started, at baseURL
// (without a trailing slash, e.g. http://127.0.0.1:8080), administered by
// the master realm's adminUser. Stop does nothing to it.
func ConnectKeycloak(baseURL, adminUser, adminPassword string) *Keycloak {
	return &Keycloak{
		url:           strings.TrimSuffix(baseURL, "/"),
		adminUser:     adminUser,
		adminPassword: adminPassword,
		client:        &http.Client{Timeout: time.Minute},
	}
}

// SharedKeycloak returns the Keycloak at $RESETQ_KEYCLOAK_URL when it is
// set (admin $RESETQ_KEYCLOAK_ADMIN / $RESETQ_KEYCLOAK_ADMIN_PASSWORD,
// default admin/admin), so that test packages run by `make e2e` share the
// one the devstack started; else it starts one with the repository's test
// themes (ThemesDir). The caller stops it.
func SharedKeycloak(ctx context.Context) (*Keycloak, error) {
	if url := os.Getenv(EnvKeycloakURL); url != "" {
		user, password := os.Getenv(EnvKeycloakAdmin), os.Getenv(EnvKeycloakAdminPassword)
		if user == "" {
			user = "admin"
		}
		if password == "" {
			password = "admin"
		}
		return ConnectKeycloak(url, user, password), nil
	}
	themes, err := ThemesDir()
	if err != nil {
		return nil, err
	}
	return StartKeycloak(ctx, KeycloakConfig{ThemesDir: themes})
}

// ThemesDir is the repository's folder of test themes
// (internal/realidp/testdata/themes), found from the module root so that
// any package's tests, and the devstack, can load them.
func ThemesDir() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "internal", "realidp", "testdata", "themes")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("the test themes: %w", err)
	}
	return dir, nil
}

// URL is Keycloak's base URL, http://127.0.0.1:<port>.
func (k *Keycloak) URL() string { return k.url }

// Admin returns the master realm's admin user name and password.
func (k *Keycloak) Admin() (user, password string) { return k.adminUser, k.adminPassword }

// Stop stops a Keycloak this package started and removes its log; it does
// nothing to one reached with ConnectKeycloak. It may be called more than
// once.
func (k *Keycloak) Stop() {
	if k.proc == nil {
		return
	}
	k.stopOnce.Do(func() {
		k.proc.stop()
		os.RemoveAll(k.dir)
	})
}

// LogTail returns the last n lines of Keycloak's log ("" for a Keycloak
// started elsewhere).
func (k *Keycloak) LogTail(n int) string {
	if k.proc == nil {
		return ""
	}
	return k.proc.logTail(n)
}

// LogPath is the file Keycloak logs to ("" for a Keycloak started
// elsewhere). Stop removes it.
func (k *Keycloak) LogPath() string {
	if k.proc == nil {
		return ""
	}
	return k.proc.logPath
}
