// Package version identifies the build. Version and Revision are set by the
// linker (-ldflags "-X github.com/resetq/resetq/internal/version.Version=…");
// without that they come from the module and VCS information Go embeds.
package version
