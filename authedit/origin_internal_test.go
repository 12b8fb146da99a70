package authedit

import (
	"net/url"
	"testing"
)

// sameOrigin decides like comparing originOf strings, which it avoids
// building for the common case.
func TestSameOriginAgreesWithOriginOf(t *testing.T) {
	bases := []string{"https://cloud.mongodb.com", "http://127.0.0.1:8080", "https://[::1]:8443/base", "HTTPS://Cloud.MongoDB.com:443"}
	urls := []string{
		"https://cloud.mongodb.com/api", "https://CLOUD.mongodb.com:443/x", "HTTPS://cloud.mongodb.com", "http://cloud.mongodb.com",
		"https://cloud.mongodb.com:444", "https://cloud.mongodb.com.evil.example", "https://evil.example/cloud.mongodb.com",
		"http://127.0.0.1:8080/x", "http://127.0.0.1/x", "http://127.0.0.1:80", "http://127.0.0.2:8080",
		"https://[::1]:8443", "https://[::1]", "https://[0:0::1]:8443",
		"https://cloud.mongodb.\u212aom", // Kelvin sign: ToLower makes it k
		"https://cloud.mongodb.com:", "ftp://cloud.mongodb.com:443", "//cloud.mongodb.com",
	}
	for _, b := range bases {
		tr, err := NewTransport(b, APIKey{PublicKey: "p", PrivateKey: "s"})
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tr.sameOrigin(u), originOf(u) == tr.origin; got != want {
				t.Errorf("base %s, URL %s: sameOrigin %v, originOf says %v", b, raw, got, want)
			}
		}
	}
}
