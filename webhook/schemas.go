package webhook

import (
	"embed"
	"strings"
)

// Schemas holds the JSON Schema (draft 2020-12) of every event type.
//
//go:embed schemas/*.json
var Schemas embed.FS

// SchemaFile names the schema of an event type within Schemas.
func SchemaFile(eventType string) string {
	if strings.HasPrefix(eventType, "reset.") {
		return "schemas/reset.json"
	}
	return "schemas/" + eventType + ".json"
}
