package config

import (
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/resetq/resetq/idp"
)

// kinds are the provider types this build knows: each maps its type to
// its settings, the keys that only it takes, written flat in its provider
// entry beside the common ones. Adding a provider type is its package, a
// file here with its settings, and one line in this table.
var kinds = map[string]func() Settings{
	"keycloak": func() Settings { return new(Keycloak) },
	"keygen":   func() Settings { return new(Keygen) },
	"kratos":   func() Settings { return new(Kratos) },
	"firebase": func() Settings { return new(Firebase) },
	"okta":     func() Settings { return new(Okta) },
	"cognito":  func() Settings { return new(Cognito) },
}

// Types lists the provider types this build knows, sorted.
func Types() []string { return slices.Sorted(maps.Keys(kinds)) }

// Settings are one provider type's own part of a provider entry. Each
// implementation is a struct whose yaml tags name its keys.
type Settings interface {
	// Type is the provider type the settings are for.
	Type() string
	// New builds the provider from p's common settings and these.
	New(p *Provider, client *http.Client) (idp.Provider, error)
	// Accepts is what the provider can find users by.
	Accepts() idp.UserRefs

	// defaults fills what the file left out, before the common defaults:
	// it may set a common one the type wants different (a duplicate
	// window).
	defaults(p *Provider)
	// validate reports what is wrong with the settings, at path.
	validate(l *loader, p *Provider, path string)
	// secrets are the settings that may come from a file (x_file).
	secrets() []secret
}

// secret is a setting that may be given in a file instead: key is its
// path inside the provider entry ("auth.password").
type secret struct {
	key   string
	value *string
	file  string
}

// slowCall is implemented by settings with a call slower than timeout
// (Keycloak's reset, which sends the mail inside it); an attempt's default
// and bounds make room for it.
type slowCall interface{ slowestCall() time.Duration }

func (p *Provider) slowestCall() time.Duration {
	if c, ok := p.Settings.(slowCall); ok {
		return c.slowestCall()
	}
	return 0
}

// UnmarshalYAML decodes a provider entry: the common keys, then those of
// its type into its Settings. Keys of neither are reported by check.
func (p *Provider) UnmarshalYAML(n *yaml.Node) error {
	type common Provider // without this method
	if err := n.Decode((*common)(p)); err != nil {
		return err
	}
	if newSettings, ok := kinds[p.Type]; ok {
		s := newSettings()
		if err := n.Decode(s); err != nil {
			return err
		}
		p.Settings = s
	}
	return nil
}

var providerType = reflect.TypeOf(Provider{})

// providerFields are the keys of a provider entry of type typ: the common
// ones and its own. other names, for every key of another type only, the
// first type that takes it.
func providerFields(typ string) (fields map[string]reflect.Type, other map[string]string) {
	fields = yamlFields(providerType)
	other = map[string]string{}
	for _, t := range Types() {
		for k, ft := range yamlFields(reflect.TypeOf(kinds[t]()).Elem()) {
			switch {
			case t == typ:
				fields[k] = ft
			case other[k] == "":
				other[k] = t
			}
		}
	}
	for k := range fields {
		delete(other, k)
	}
	return fields, other
}

// checkProvider is check for a provider entry, whose keys depend on its
// type.
func (l *loader) checkProvider(n *yaml.Node, path string) {
	var typ string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typ = n.Content[i+1].Value
		}
	}
	_, known := kinds[typ]
	fields, other := providerFields(typ)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		child := join(path, k.Value)
		f, ok := fields[k.Value]
		switch {
		case ok:
			l.lines[child] = k.Line
			l.check(v, f, child)
		case other[k.Value] != "" && known:
			l.errorf(k.Line, child, "is not %s %s setting", article(typ), typ)
		case other[k.Value] != "":
			// the type itself is reported by validation
		default:
			l.errorf(k.Line, child, "unknown key%s", suggest(k.Value, fields))
		}
	}
}

// typeProblem is validation's message for a missing or unknown type.
func typeProblem(typ string) string {
	if typ == "" {
		return fmt.Sprintf("is required (%s)", strings.Join(Types(), ", "))
	}
	return fmt.Sprintf("unknown provider type %q (this build supports: %s)", typ, strings.Join(Types(), ", "))
}

// article is "an" before a vowel, else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
