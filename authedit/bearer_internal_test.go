package authedit

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// cloneHeaderWith is Header.Clone then Set, and leaves h alone.
func TestCloneHeaderWith(t *testing.T) {
	for _, h := range []http.Header{
		nil,
		{},
		{"Accept": {"a"}, "User-Agent": {"u"}},
		{"Accept": {"a", "b"}, "Authorization": {"old", "older"}, "X-Nil": nil, "X-Empty": {}},
	} {
		orig := h.Clone()
		want := h.Clone()
		if want == nil {
			want = http.Header{}
		}
		want.Set("Authorization", "Bearer t")
		got := cloneHeaderWith(h, "Authorization", "Bearer t")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("cloneHeaderWith(%v) = %v, want %v", h, got, want)
		}
		if !reflect.DeepEqual(h, orig) {
			t.Errorf("cloneHeaderWith modified its input: %v, was %v", h, orig)
		}
		got.Add("Accept", "c") // must not write into another key's values
		for k, vv := range got {
			if k != "Accept" && len(vv) > 0 && vv[len(vv)-1] == "c" {
				t.Errorf("Add to Accept reached %s: %v", k, got)
			}
		}
	}
}

// withAuth gives the attempt its own URL and header; the caller's request
// is untouched.
func TestWithAuthLeavesRequestAlone(t *testing.T) {
	req, err := http.NewRequest(http.MethodDelete, "https://cloud.mongodb.com/api/x?y=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "a")
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, 1)
	r := withAuth(ctx, req, http.NoBody, "Bearer t")
	if r.Context() != ctx || r.Body != http.NoBody || r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Accept") != "a" {
		t.Fatalf("copy: ctx %v body %v header %v", r.Context(), r.Body, r.Header)
	}
	r.URL.Path, r.URL.Host = "/elsewhere", "evil.example"
	r.Header.Set("Accept", "b")
	if req.Header.Get("Authorization") != "" || req.Header.Get("Accept") != "a" || req.URL.String() != (&url.URL{Scheme: "https", Host: "cloud.mongodb.com", Path: "/api/x", RawQuery: "y=1"}).String() || req.Body != nil {
		t.Errorf("the caller's request changed: %v %v body %v", req.URL, req.Header, req.Body)
	}
}
