package deleteorgapikey

import (
	"net/http"
	"testing"
)

// Remove reads the key's absence from its errorCode, whatever the status;
// any other answer it does not know fails. (atlastest's answers are held
// to Remove's outcomes in TestRecordedAnswers and the examples.)
func TestRemoveOutcomes(t *testing.T) {
	header := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name   string
		answer answer
		want   Outcome
	}{
		{"404 API_KEY_NOT_FOUND", answer{http.StatusNotFound, header,
			`{"error":404,"errorCode":"API_KEY_NOT_FOUND"}`}, NotFound},
		{"a 404 naming nothing", answer{status: http.StatusNotFound, body: "<html>"}, Failed},
	}
	for _, tc := range tests {
		c := newClient(t, serve(t, &canned{answers: []answer{tc.answer}}), digestKey)
		out, err := c.Remove(t.Context(), orgID, keyID)
		if out != tc.want || (out == Failed) != (err != nil) {
			t.Errorf("%s: Remove = %v, %v; want %v", tc.name, out, err, tc.want)
		}
	}
	names := map[Outcome]string{Failed: "failed", AlreadyRemoved: "already removed",
		7: "Outcome(7)"}
	for o, want := range names {
		if o.String() != want {
			t.Errorf("Outcome %d prints %q, want %q", int(o), o, want)
		}
	}
}
