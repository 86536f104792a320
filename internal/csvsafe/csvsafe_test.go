package csvsafe_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/resetq/resetq/internal/csvsafe"
)

func TestAFormulaIsNotAFormulaAnyMore(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=HYPERLINK(1)": "'=HYPERLINK(1)", "+1": "'+1", "-credentials": "'-credentials", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "alice@example.com": "alice@example.com", "": "", "a=b": "a=b",
	} {
		require.Equal(t, want, csvsafe.Cell(in), "%q", in)
	}
}
