package contract_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

func BenchmarkCheckIDs(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := contract.CheckIDs(org, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckRequest(b *testing.B) {
	r := httptest.NewRequest(http.MethodDelete, "/api/atlas/v2/orgs/"+org+"/apiKeys/"+key+"?envelope=false&pretty=true", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := contract.CheckRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}
