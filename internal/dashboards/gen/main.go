// Command gen writes the overview dashboard's JSON to the file named by
// its argument.
package main

import (
	"github.com/resetq/resetq/internal/dashboards"
	"github.com/resetq/resetq/internal/genfile"
)

func main() {
	genfile.Main("gen FILE", 0, func([]string) ([]byte, error) { return dashboards.Overview() })
}
