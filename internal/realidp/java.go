package realidp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// jvmRoot is where Debian's packages and most JDK installers put JDKs.
const jvmRoot = "/usr/lib/jvm"

// FindJava returns a Java installation whose major version is at least
// minMajor: $JAVA_HOME when it qualifies, else the newest qualifying JDK
// under /usr/lib/jvm. The error says what was needed and what was found:
// "need Java 21 or newer; found java-17-openjdk-amd64 (17) under
// /usr/lib/jvm and JAVA_HOME unset: install a JDK ≥ 21 there or set
// JAVA_HOME".
func FindJava(minMajor int) (home string, major int, err error) {
	return findJava(minMajor, os.Getenv("JAVA_HOME"), jvmRoot)
}

func findJava(minMajor int, javaHome, root string) (string, int, error) {
	var javaHomeSaid string
	if javaHome == "" {
		javaHomeSaid = "JAVA_HOME unset"
	} else {
		v, err := javaMajor(javaHome)
		switch {
		case err != nil:
			javaHomeSaid = fmt.Sprintf("JAVA_HOME=%s unusable (%v)", javaHome, err)
		case v >= minMajor:
			return javaHome, v, nil
		default:
			javaHomeSaid = fmt.Sprintf("JAVA_HOME=%s is Java %d", javaHome, v)
		}
	}

	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", 0, fmt.Errorf("looking for Java %d or newer under %s: %w", minMajor, root, err)
	}
	var (
		best      string
		bestMajor int
		found     []string
		seen      = map[string]bool{}
	)
	for _, e := range entries {
		// Debian links java-1.17.0-openjdk-amd64 to java-17-openjdk-amd64:
		// one JDK, named by its real folder.
		home, err := filepath.EvalSymlinks(filepath.Join(root, e.Name()))
		if err != nil || seen[home] {
			continue
		}
		seen[home] = true
		if _, err := os.Stat(filepath.Join(home, "bin", "java")); err != nil {
			continue
		}
		v, err := javaMajor(home)
		if err != nil {
			found = append(found, fmt.Sprintf("%s (unusable: %v)", filepath.Base(home), err))
			continue
		}
		found = append(found, fmt.Sprintf("%s (%d)", filepath.Base(home), v))
		if v >= minMajor && v > bestMajor {
			best, bestMajor = home, v
		}
	}
	if best != "" {
		return best, bestMajor, nil
	}
	what := "no JDK"
	if len(found) > 0 {
		what = strings.Join(found, ", ")
	}
	return "", 0, fmt.Errorf("need Java %d or newer; found %s under %s and %s: install a JDK ≥ %d there or set JAVA_HOME",
		minMajor, what, root, javaHomeSaid, minMajor)
}

// javaMajor runs home/bin/java -version and returns its major version.
func javaMajor(home string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(home, "bin", "java"), "-version").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s/bin/java -version: %v: %s", home, err, tail(out, 3))
	}
	return parseJavaVersion(string(out))
}

var javaVersionRE = regexp.MustCompile(`version "([^"]+)"`)

// parseJavaVersion reads the major version from `java -version` output:
// `openjdk version "25.0.3"` is 25, `"21"` is 21, and the old style
// `java version "1.8.0_392"` is 8.
func parseJavaVersion(out string) (int, error) {
	m := javaVersionRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no version in java -version output %q", firstLine(out))
	}
	v := strings.TrimPrefix(m[1], "1.")
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		v = v[:end]
	}
	major, err := strconv.Atoi(v)
	if err != nil || major == 0 {
		return 0, fmt.Errorf("unreadable Java version %q", m[1])
	}
	return major, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
