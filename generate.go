package deleteorgapikey

// The spec in openapi/ is the source of truth: `go generate ./...` rewrites
// gen/ from it with the oapi-codegen version pinned in go.mod.
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config openapi/oapi-codegen.yaml openapi/deleteorgapikey.yaml
