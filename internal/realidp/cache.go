package realidp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// CacheDir is where downloads and builds are kept: $RESETQ_CACHE_DIR, else
// the .cache folder at the root of the module (git-ignored). It is created
// when missing.
func CacheDir() (string, error) {
	dir := os.Getenv("RESETQ_CACHE_DIR")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, ".cache")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache folder: %w", err)
	}
	return filepath.Abs(dir)
}

// moduleRoot walks up from the working directory to the folder holding
// go.mod (tests run in their package's folder, commands from anywhere in
// the checkout).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the resetq checkout (no go.mod above the working directory): set RESETQ_CACHE_DIR")
		}
		dir = parent
	}
}

// lockFile takes an exclusive lock on path (created if needed) and returns
// its release. It serialises downloads and builds between processes: go
// test runs packages in parallel, and each may want Keycloak.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// cachedBinary returns the program name at version: the path in $env when
// it is set, else <CacheDir>/<name>/<version>/<name>, made by build on
// first use. build writes the binary into work, a fresh folder, and
// returns its path; it is moved into place only once it succeeded, so an
// interrupted build never leaves a half-written binary the next run would
// trust. A file lock keeps parallel test processes from building it twice.
func cachedBinary(ctx context.Context, name, version, env string, build func(ctx context.Context, work string) (string, error)) (string, error) {
	return cached(ctx, name, version, env, "", build)
}

// cached is cachedBinary for a build that is a folder (an npm install):
// build returns the folder, which is kept as <CacheDir>/<name>/<version>/<name>,
// and the program is inside it at the relative path inside ("" when the
// build is the program itself).
func cached(ctx context.Context, name, version, env, inside string, build func(ctx context.Context, work string) (string, error)) (string, error) {
	if bin := os.Getenv(env); bin != "" {
		if err := checkExecutable(bin); err != nil {
			return "", fmt.Errorf("%s: %w", env, err)
		}
		return bin, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, name, version)
	entry := filepath.Join(dir, name)
	bin := filepath.Join(entry, inside)
	if checkExecutable(bin) == nil {
		return bin, nil
	}
	unlock, err := lockFile(filepath.Join(cache, name, version+".lock"))
	if err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	defer unlock()
	if checkExecutable(bin) == nil { // another process built it while we waited
		return bin, nil
	}
	work, err := os.MkdirTemp(filepath.Join(cache, name), "build-")
	if err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	defer os.RemoveAll(work)
	start := time.Now()
	built, err := build(ctx, work)
	if err != nil {
		return "", fmt.Errorf("building %s %s (after %s): %w", name, version, time.Since(start).Round(time.Second), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	if err := os.Rename(built, entry); err != nil {
		return "", fmt.Errorf("building %s: moving the build into %s: %w", name, dir, err)
	}
	if err := checkExecutable(bin); err != nil {
		return "", fmt.Errorf("building %s: the build succeeded but %w", name, err)
	}
	return bin, nil
}
