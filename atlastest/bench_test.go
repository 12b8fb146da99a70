package atlastest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// BenchmarkDelete deletes keys through the whole handler (checks, Bearer
// authentication, rate limit, generated server) at 1e3 and 1e6 keys: the
// time per delete should not grow with the key count (goal: at most 1.2x).
func BenchmarkDelete(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			srv := atlastest.New(atlastest.WithSeedKeys(n), atlastest.WithRateLimit(1<<30, 1<<30, time.Second))
			h, auth, keys := benchSetup(b, srv)
			i := 0
			for b.Loop() {
				if i == len(keys) { // out of keys: seed afresh, off the clock
					b.StopTimer()
					srv = atlastest.New(atlastest.WithSeedKeys(n), atlastest.WithRateLimit(1<<30, 1<<30, time.Second))
					h, auth, keys = benchSetup(b, srv)
					i = 0
					b.StartTimer()
				}
				req := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+srv.OrgID()+"/apiKeys/"+keys[i], nil)
				req.Header.Set("Authorization", auth)
				req.Header.Set("Accept", contract.AcceptHeader())
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				i++
				if i%4096 == 0 {
					srv.ResetRequests() // keep the log from growing with b.N
				}
			}
		})
	}
}

func benchSetup(b *testing.B, srv *atlastest.Server) (http.Handler, string, []string) {
	h := srv.Handler()
	req := httptest.NewRequest(http.MethodPost, contract.TokenPath(), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(srv.Owner().ClientID, srv.Owner().ClientSecret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return h, "Bearer " + tok.AccessToken, srv.Keys()
}
