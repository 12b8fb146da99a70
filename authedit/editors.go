package authedit

import (
	"context"
	"net/http"
	"path"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// ParamError is the typed error for a parameter the spec does not allow;
// errors.As(err, new(*authedit.ParamError)) tells the caller that nothing
// was sent.
type ParamError = contract.ParamError

// Request editors for the generated client; each has the gen.RequestEditorFn signature.
var (
	_ gen.RequestEditorFn = SetAccept
	_ gen.RequestEditorFn = SetUserAgent
	_ gen.RequestEditorFn = ValidateRequest
)

// SetAccept sets the versioned media type Atlas expects
// (contract.AcceptHeader, read from the spec).
func SetAccept(_ context.Context, req *http.Request) error {
	req.Header.Set("Accept", contract.AcceptHeader())
	return nil
}

// SetUserAgent sets User-Agent to UserAgent().
func SetUserAgent(_ context.Context, req *http.Request) error {
	req.Header.Set("User-Agent", UserAgent())
	return nil
}

// ValidateRequest checks the built request against the spec
// (contract.ValidateRequest, which decides like contract.CheckRequest): path template, id patterns, query flags. It
// returns a *ParamError naming the parameter, or "path" when the URL no
// longer fits the template at all (the generated client resolves "." and
// ".." ids away, so Client also checks the raw ids before building).
func ValidateRequest(_ context.Context, req *http.Request) error {
	return contract.ValidateRequest(req)
}

// modulePath is this module's path, derived from the package path so that
// it cannot drift from go.mod.
var modulePath = path.Dir(reflect.TypeFor[Client]().PkgPath())

// version is the module version this binary was built with, from
// runtime/debug.ReadBuildInfo, or "devel" for an untagged build.
var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := ""
	if bi.Main.Path == modulePath {
		v = bi.Main.Version
	}
	for _, dep := range bi.Deps {
		if dep.Path == modulePath {
			v = dep.Version
			if dep.Replace != nil {
				v = dep.Replace.Version
			}
		}
	}
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
})

// UserAgent names this module and its version, e.g.
// "deleteorgapikey/v1.2.3 (+github.com/atlascontract/deleteorgapikey)".
func UserAgent() string { return userAgentValue() }

var userAgentValue = sync.OnceValue(func() string {
	return path.Base(modulePath) + "/" + version() + " (+" + modulePath + ")"
})
