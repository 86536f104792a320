package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvRedisURL overrides redis.url.
const EnvRedisURL = "RESETQ_REDIS_URL"

// Load reads, checks and completes the configuration in path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist (pass --config FILE or set RESETQ_CONFIG)", path)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b, os.LookupEnv)
}

// Parse checks and completes a configuration read from name. lookup
// resolves ${VAR} references and RESETQ_REDIS_URL.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	l := &loader{file: filepath.Base(name), dir: filepath.Dir(name), lookup: lookup, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", l.file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	cfg := &Config{Path: name}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		l.expand(root)
		l.check(root, reflect.TypeOf(*cfg), "")
		if l.fatal {
			return nil, l.err()
		}
		// Unknown keys alone do not stop the load: validation still runs,
		// so one attempt reports every problem.
		if err := root.Decode(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", l.file, err)
		}
	}
	if v, ok := lookup(EnvRedisURL); ok && v != "" {
		cfg.Redis.URL = v
	}
	l.resolveSecrets(cfg)
	cfg.setDefaults()
	l.validate(cfg)
	if len(l.errs) > 0 {
		return nil, l.err()
	}
	return cfg, nil
}

type loader struct {
	file   string
	dir    string
	lookup func(string) (string, bool)
	lines  map[string]int // field path -> line
	errs   []string
	fatal  bool // a value cannot be decoded
}

func (l *loader) errorf(line int, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	loc := l.file
	if line > 0 {
		loc += ":" + strconv.Itoa(line)
	}
	if path != "" {
		msg = path + ": " + msg
	}
	l.errs = append(l.errs, loc+": "+msg)
}

// typeError reports a value that cannot be decoded into its field.
func (l *loader) typeError(line int, path, format string, args ...any) {
	l.fatal = true
	l.errorf(line, path, format, args...)
}

// fieldError reports a validation error at the line of the field, or of its
// closest parent that appears in the file.
func (l *loader) fieldError(path, format string, args ...any) {
	line := 0
	for p := path; p != ""; {
		if n, ok := l.lines[p]; ok {
			line = n
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	l.errorf(line, path, format, args...)
}

func (l *loader) err() error {
	if len(l.errs) == 1 {
		return errors.New(l.errs[0])
	}
	return fmt.Errorf("%d problems in the configuration:\n  %s", len(l.errs), strings.Join(l.errs, "\n  "))
}

// expand replaces ${VAR} and ${VAR:-default} in scalar values; $$ is a
// literal $. Keys are left alone.
func (l *loader) expand(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expandEnv(n.Value, l.lookup)
		if err != nil {
			l.errorf(n.Line, "", "%v", err)
			l.fatal = true
			return
		}
		n.Value = v
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // resolve the expanded text as if it had been written literally
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			l.expand(n.Content[i])
		}
	default:
		for _, c := range n.Content {
			l.expand(c)
		}
	}
}

func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s} is not a valid environment variable reference", ref)
		}
		v, ok := lookup(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case ok:
			// set but empty: empty
		default:
			return "", fmt.Errorf("${%s} is not set in the environment (use ${%s:-default} for a fallback)", name, name)
		}
		i += end
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	rateType     = reflect.TypeOf(Rate{})
)

// check walks the YAML beside the Go type it will decode into, reporting
// unknown keys and values of the wrong type with their lines, and recording
// the line of every field for later validation messages.
func (l *loader) check(n *yaml.Node, t reflect.Type, path string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			l.typeError(n.Line, path, "must be a duration like 30s or 12h")
		} else if _, err := time.ParseDuration(n.Value); err != nil {
			l.typeError(n.Line, path, "%q is not a duration (write it like 30s, 5m or 12h)", n.Value)
		}
	case t == rateType:
		if n.Kind != yaml.ScalarNode {
			l.typeError(n.Line, path, "must be a rate like 20/s")
		} else if _, err := ParseRate(n.Value); err != nil {
			l.typeError(n.Line, path, "%v", err)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.typeError(n.Line, path, "must be a mapping of keys to values")
			return
		}
		if t == providerType {
			l.checkProvider(n, path)
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			child := join(path, k.Value)
			if !ok {
				l.errorf(k.Line, child, "unknown key%s", suggest(k.Value, fields))
				continue
			}
			l.lines[child] = k.Line
			l.check(v, f, child)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.typeError(n.Line, path, "must be a list")
			return
		}
		for i, c := range n.Content {
			item := fmt.Sprintf("%s[%d]", path, i)
			l.lines[item] = c.Line
			l.check(c, t.Elem(), item)
		}
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			l.typeError(n.Line, path, "must be a single value, not a list or mapping")
		}
	case t.Kind() == reflect.Int:
		if n.Kind != yaml.ScalarNode {
			l.typeError(n.Line, path, "must be a whole number")
		} else if _, err := strconv.Atoi(n.Value); err != nil {
			l.typeError(n.Line, path, "%q is not a whole number", n.Value)
		}
	case t.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || (n.Value != "true" && n.Value != "false") {
			l.typeError(n.Line, path, "must be true or false")
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			maps.Copy(out, yamlFields(f.Type))
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest names the known key closest to an unknown one, when one is close.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 4
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if d := distance(strings.ToLower(key), name); d < bestD {
			best, bestD = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

// distance is the Levenshtein distance, treating - and _ alike.
func distance(a, b string) int {
	a, b = strings.ReplaceAll(a, "-", "_"), strings.ReplaceAll(b, "-", "_")
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// UnmarshalYAML reads a rate written as "20/s".
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// readSecret resolves a secret given directly or as a file. A relative path
// is read from the configuration file's directory.
func (l *loader) readSecret(value *string, file, path string) {
	if file == "" {
		return
	}
	if *value != "" {
		l.fieldError(path, "give either %s or %s_file, not both", lastKey(path), lastKey(path))
		return
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(l.dir, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		l.fieldError(path+"_file", "cannot read the secret: %v", err)
		return
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		l.fieldError(path+"_file", "%s is empty", file)
		return
	}
	*value = s
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func (l *loader) resolveSecrets(c *Config) {
	for i := range c.Providers {
		if s := c.Providers[i].Settings; s != nil {
			for _, sec := range s.secrets() {
				l.readSecret(sec.value, sec.file, fmt.Sprintf("providers[%d].%s", i, sec.key))
			}
		}
	}
	l.readSecret(&c.Redis.Cluster.Password, c.Redis.Cluster.PasswordFile, "redis.cluster.password")
	l.readSecret(&c.HTTP.Auth.Token, c.HTTP.Auth.TokenFile, "http.auth.token")
	l.readSecret(&c.HTTP.Auth.Password, c.HTTP.Auth.PasswordFile, "http.auth.password")
	for i := range c.HTTP.Viewers {
		v := &c.HTTP.Viewers[i]
		l.readSecret(&v.Token, v.TokenFile, fmt.Sprintf("http.viewers[%d].token", i))
		l.readSecret(&v.Password, v.PasswordFile, fmt.Sprintf("http.viewers[%d].password", i))
	}
	for i := range c.Webhooks.Endpoints {
		e := &c.Webhooks.Endpoints[i]
		l.readSecret(&e.Secret, e.SecretFile, fmt.Sprintf("webhooks.endpoints[%d].secret", i))
	}
	for i := range c.API.Tokens {
		t := &c.API.Tokens[i]
		l.readSecret(&t.Token, t.TokenFile, fmt.Sprintf("api.tokens[%d].token", i))
	}
}
