// Package kcschema loads Keycloak's official admin OpenAPI document (26.6,
// kept in idp/keycloak/keycloaktest/testdata) for tests that hold files and
// traffic to it: realm JSON files, the emulator's requests and answers.
package kcschema
