package realidp

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// PlaywrightVersion is the playwright-core release that drives Debian's
// Chromium in the console's browser test: the library alone, without the
// browsers Playwright would otherwise download.
const PlaywrightVersion = "1.65.1"

// FetchPlaywright returns the node_modules folder that holds
// playwright-core, installed from the npm registry into
// <CacheDir>/playwright-core/<PlaywrightVersion> on first use (a few
// seconds, 10 MB), or the one of $RESETQ_PLAYWRIGHT_BIN (a
// node_modules/.bin/playwright-core) when set.
func FetchPlaywright(ctx context.Context) (string, error) {
	bin, err := npmPackage(ctx, "playwright-core", PlaywrightVersion, "RESETQ_PLAYWRIGHT_BIN",
		filepath.Join("node_modules", ".bin", "playwright-core"))
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(bin)), nil
}

// npmPackage installs one npm package at an exact version into the cache,
// once, and returns its command (inside, a path under the install folder);
// env, when set, names a command to use instead.
func npmPackage(ctx context.Context, pkg, version, env, inside string) (string, error) {
	return cached(ctx, pkg, version, env, inside, func(ctx context.Context, work string) (string, error) {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return "", fmt.Errorf("npm is needed on PATH (or set %s): %w", env, err)
		}
		cmd := exec.CommandContext(ctx, npm, "install", "--prefix", work, "--no-audit", "--no-fund", "--loglevel=error",
			pkg+"@"+version)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm install %s@%s: %w\n%s", pkg, version, err, tail(out, 40))
		}
		return work, nil
	})
}
