//go:build tools

// Package tools pins the command-line tools this module runs (code
// generation, linting, benchmark comparison) so that go.mod records their
// versions and `go run` needs nothing installed globally.
package tools

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
	_ "golang.org/x/perf/cmd/benchstat"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
