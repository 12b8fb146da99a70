// Package openapi holds the OpenAPI document of the one operation this
// module covers, DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}.
//
// The document, deleteorgapikey.yaml beside this file, is the source of
// truth: `go generate ./...` turns it into package gen, and
// internal/contract loads it from here to check requests and responses at
// run time. The generated client does not embed it, so a program that only
// calls Atlas links no YAML parser.
package openapi

import (
	"bytes"
	_ "embed"
)

//go:embed deleteorgapikey.yaml
var document []byte

// YAML returns the document as written, a fresh copy on each call.
func YAML() []byte { return bytes.Clone(document) }
