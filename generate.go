package deleteorgapikey

// The spec in openapi/ is the source of truth: `go generate ./...` rewrites
// gen/ from it with the oapi-codegen that go.mod pins as a tool.
//go:generate go tool oapi-codegen -config openapi/oapi-codegen.yaml openapi/deleteorgapikey.yaml
