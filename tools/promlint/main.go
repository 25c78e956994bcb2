// promlint checks Prometheus text exposition read from stdin against the
// Prometheus naming and type conventions, with the same linter (client_golang
// testutil/promlint) and the same output and exit codes as
// `promtool check metrics`: 0 clean, 3 problems found, 1 unreadable input.
// Built by scripts/promlint.sh into the cache, never committed as a binary.
package main

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func main() {
	problems, err := promlint.New(os.Stdin).Lint()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error while linting:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "%s: %s\n", p.Metric, p.Text)
	}
	if len(problems) > 0 {
		os.Exit(3)
	}
}
