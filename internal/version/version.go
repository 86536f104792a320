package version

import (
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X at release builds.
var (
	Version  = ""
	Revision = ""
)

// Info returns the version, the revision and the Go version.
func Info() (version, revision, goVersion string) {
	version, revision = Version, Revision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && revision == "" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	if revision == "" {
		revision = "unknown"
	}
	return version, revision, runtime.Version()
}

// UserAgent is what resetq sends to identity providers.
func UserAgent() string {
	v, _, _ := Info()
	return "resetq/" + v
}
