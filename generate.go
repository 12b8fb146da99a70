// Package deleteorgapikey makes one Atlas Administration API operation,
// "Remove One Organization API Key", a typed client, a typed server and a
// reference server for contract tests.
//
// The spec in openapi/ is the source of truth; `go generate ./...` rewrites
// gen/ from it with the oapi-codegen version pinned in go.mod.
package deleteorgapikey

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config openapi/oapi-codegen.yaml openapi/deleteorgapikey.yaml
