package realidp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseJavaVersionReadsTheMajorOfEveryStyle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		out   string
		major int
	}{
		{"openjdk version \"25.0.3\" 2026-04-21 LTS\nOpenJDK Runtime Environment Temurin-25.0.3+9", 25},
		{"openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)", 17},
		{"java version \"1.8.0_392\"\nJava(TM) SE Runtime Environment", 8},
		{"openjdk version \"21\" 2023-09-19", 21},
		{"openjdk version \"26-ea\" 2026-03-17", 26},
		{"Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version \"21.0.5\" 2024-10-15", 21},
	} {
		major, err := parseJavaVersion(tc.out)
		require.NoError(t, err, tc.out)
		require.Equal(t, tc.major, major, tc.out)
	}
	for _, out := range []string{"", "bash: java: command not found", `openjdk version "x.y"`} {
		_, err := parseJavaVersion(out)
		require.Error(t, err, out)
	}
}

// fakeJDK makes root/name/bin/java, a script that prints version as
// `java -version` does (on stderr). The tests that use it do not run in
// parallel: a script written while another test forks can fail to start
// with "text file busy" (the fork holds the write descriptor a moment).
func fakeJDK(t *testing.T, root, name, version string) string {
	t.Helper()
	home := filepath.Join(root, name)
	require.NoError(t, os.MkdirAll(filepath.Join(home, "bin"), 0o755))
	script := "#!/bin/sh\necho 'openjdk version \"" + version + "\" 2026-01-01' >&2\n"
	require.NoError(t, os.WriteFile(filepath.Join(home, "bin", "java"), []byte(script), 0o755))
	return home
}

func TestFindJavaTakesTheNewestQualifyingJDK(t *testing.T) {
	root := t.TempDir()
	fakeJDK(t, root, "java-17-openjdk-amd64", "17.0.15")
	want := fakeJDK(t, root, "temurin-25-jdk-amd64", "25.0.3")
	fakeJDK(t, root, "temurin-21-jdk-amd64", "21.0.5")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "openjdk-17"), 0o755)) // no bin/java
	require.NoError(t, os.Symlink("java-17-openjdk-amd64", filepath.Join(root, "java-1.17.0-openjdk-amd64")))

	home, major, err := findJava(21, "", root)
	require.NoError(t, err)
	require.Equal(t, want, home)
	require.Equal(t, 25, major)
}

func TestFindJavaTakesJavaHomeOnlyWhenItQualifies(t *testing.T) {
	for _, tc := range []struct {
		name, javaHome, version string
		takesJavaHome           bool
		major                   int
	}{
		{"JAVA_HOME qualifies", "jdk-21", "21.0.5", true, 21},
		{"JAVA_HOME too old: the scan's", "jdk-17", "17.0.15", false, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			want := fakeJDK(t, root, "temurin-25-jdk-amd64", "25.0.3")
			javaHome := fakeJDK(t, t.TempDir(), tc.javaHome, tc.version)
			if tc.takesJavaHome {
				want = javaHome
			}

			home, major, err := findJava(21, javaHome, root)
			require.NoError(t, err)
			require.Equal(t, want, home)
			require.Equal(t, tc.major, major)
		})
	}
}

func TestFindJavaSaysWhatItNeedsAndWhatItFound(t *testing.T) {
	root := t.TempDir()
	fakeJDK(t, root, "java-17-openjdk-amd64", "17.0.15")
	require.NoError(t, os.Symlink("java-17-openjdk-amd64", filepath.Join(root, "java-1.17.0-openjdk-amd64")))

	_, _, err := findJava(21, "", root)
	require.EqualError(t, err, "need Java 21 or newer; found java-17-openjdk-amd64 (17) under "+root+
		" and JAVA_HOME unset: install a JDK ≥ 21 there or set JAVA_HOME")

	old := fakeJDK(t, t.TempDir(), "jdk-8", "1.8.0_392")
	_, _, err = findJava(21, old, root)
	require.ErrorContains(t, err, "and JAVA_HOME="+old+" is Java 8:")

	_, _, err = findJava(21, "", filepath.Join(root, "missing"))
	require.ErrorContains(t, err, "found no JDK under")
}
