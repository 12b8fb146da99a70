package authedit

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/atlascontract/deleteorgapikey/gen"
)

// Client validates each request once through its own editor; only a
// caller's editors, which run after it, earn a second check.
func TestValidateLastOnlyAfterCallerEditors(t *testing.T) {
	if got := validateLast(nil); len(got) != 0 {
		t.Errorf("validateLast(no editors) = %d editors, want none: the client's own ValidateRequest already saw the request", len(got))
	}
	mine := gen.RequestEditorFn(func(context.Context, *http.Request) error { return nil })
	editors := make([]gen.RequestEditorFn, 1, 2) // room to append into
	editors[0] = mine
	got := validateLast(editors)
	if len(got) != 2 || reflect.ValueOf(got[1]).Pointer() != reflect.ValueOf(ValidateRequest).Pointer() {
		t.Fatalf("validateLast(1 editor) = %d editors, want the caller's then ValidateRequest", len(got))
	}
	if editors[:2][1] != nil {
		t.Error("validateLast wrote into the caller's backing array")
	}
}
