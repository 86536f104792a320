package kcschema

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/getkin/kin-openapi/openapi3"
)

// Path is the document's file.
func Path() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "idp", "keycloak", "keycloaktest", "testdata",
		"keycloak-admin-openapi-26.6.json")
}

// Load reads the document.
func Load() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(Path())
	if err != nil {
		return nil, fmt.Errorf("loading Keycloak's admin OpenAPI document: %w", err)
	}
	return doc, nil
}

// Realm returns the document's RealmRepresentation, made strict.
func Realm() (*openapi3.Schema, error) {
	doc, err := Load()
	if err != nil {
		return nil, err
	}
	s := doc.Components.Schemas["RealmRepresentation"].Value
	Strict(s)
	return s, nil
}

// Strict forbids, in every object schema reachable from s, properties the
// schema does not name: Keycloak's document leaves them open, and a typo in
// a realm file would otherwise pass (and be ignored by the import).
func Strict(s *openapi3.Schema) { strict(s, map[*openapi3.Schema]bool{}) }

func strict(s *openapi3.Schema, seen map[*openapi3.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
		no := false
		s.AdditionalProperties.Has = &no
	}
	for _, p := range s.Properties {
		strict(p.Value, seen)
	}
	if s.Items != nil {
		strict(s.Items.Value, seen)
	}
	if s.AdditionalProperties.Schema != nil {
		strict(s.AdditionalProperties.Schema.Value, seen)
	}
	for _, group := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range group {
			strict(r.Value, seen)
		}
	}
}
