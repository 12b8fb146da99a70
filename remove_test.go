package deleteorgapikey

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
)

// Remove reads the key's absence from its errorCode, whatever the status.
// After an attempt that may have applied, an absent key is AlreadyRemoved.
func TestRemoveOutcomes(t *testing.T) {
	notFound := func(status int) answer {
		return answer{status, jsonError(codeKeyNotFound), `{"errorCode":"API_KEY_NOT_FOUND"}`}
	}
	orgNotFound := answer{http.StatusNotFound, jsonError(codeOrgNotFound),
		`{"error":404,"errorCode":"ORG_NOT_FOUND"}`}
	tests := []struct {
		name    string
		answers []answer
		want    Outcome
		class   error
	}{
		{"removed", []answer{{status: http.StatusNoContent}}, Removed, nil},
		{"400 API_KEY_NOT_FOUND", []answer{notFound(http.StatusBadRequest)}, NotFound, nil},
		{"404 API_KEY_NOT_FOUND", []answer{notFound(http.StatusNotFound)}, NotFound, nil},
		{"500, then not found", []answer{{status: 500}, notFound(400)}, AlreadyRemoved, nil},
		{"no such organization", []answer{orgNotFound}, Failed, ErrOrgNotFound},
		{"a 404 naming nothing", []answer{{status: 404, body: "<html>"}}, Failed, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := bubbleClient(t, &canned{answers: tc.answers}, account)
				out, err := c.Remove(t.Context(), orgID, keyID)
				if out != tc.want || (out == Failed) != (err != nil) ||
					tc.class != nil && !errors.Is(err, tc.class) {
					t.Errorf("Remove = %v, %v; want %v, %v", out, err, tc.want, tc.class)
				}
			})
		})
	}
	names := map[Outcome]string{Failed: "failed", AlreadyRemoved: "already removed",
		7: "Outcome(7)"}
	for o, want := range names {
		if o.String() != want {
			t.Errorf("Outcome %d prints %q, want %q", int(o), o, want)
		}
	}
}
