// Package csvsafe keeps the CSV files resetq writes (campaign reports,
// audit exports) from being read as formulas by a spreadsheet.
package csvsafe

import "strings"

// Cell returns s as a cell no spreadsheet reads as a formula: a value
// starting with = + - @ (or a tab or carriage return) gets a leading
// quote, as OWASP advises for CSV injection. Addresses never start so;
// the text of an invalid row, or a reason a client gave, might.
func Cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
