package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every kind's keys are its own: one named like a common key would be
// decoded into both, and the check would not know which it is.
func TestKindsKeepToTheirOwnKeys(t *testing.T) {
	common := yamlFields(providerType)
	require.NotEmpty(t, Types())
	for _, typ := range Types() {
		s := kinds[typ]()
		require.Equal(t, typ, s.Type(), "the table and the settings agree on the name")
		require.NotZero(t, s.Accepts(), "%s declares what it finds users by", typ)
		st := reflect.TypeOf(s)
		require.Equal(t, reflect.Pointer, st.Kind(), "%s's settings decode through a pointer", typ)
		for key := range yamlFields(st.Elem()) {
			_, clash := common[key]
			require.False(t, clash, "%s's key %s is also a common key", typ, key)
		}
		for _, sec := range s.secrets() {
			fields := yamlFields(st.Elem())
			top, _, _ := strings.Cut(sec.key, ".")
			require.Contains(t, fields, top, "%s's secret %s is one of its keys", typ, sec.key)
		}
	}
}
