package authedit_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// A Transport authenticates the generated client, with nothing in
// between. atlastest stands in for https://cloud.mongodb.com here.
func Example() {
	srv := atlastest.NewServer()
	defer srv.Close()
	tr, err := authedit.NewTransport(srv.URL, srv.Owner().ServiceAccount())
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Revoke(context.Background())
	versioned := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json") // Atlas requires one
		return nil
	}
	client, err := gen.NewClient(srv.URL,
		gen.WithHTTPClient(&http.Client{Transport: tr}), gen.WithRequestEditorFn(versioned))
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{srv.Keys()[0], "0123456789abcdef01234567"} {
		res, err := client.DeleteOrgApiKey(context.Background(), srv.OrgID(), key, nil)
		if err != nil {
			log.Fatal(err)
		}
		res.Body.Close()
		fmt.Println(res.Status) // a 400 API_KEY_NOT_FOUND for a key that is not there
	}
	// Output:
	// 204 No Content
	// 400 Bad Request
}
