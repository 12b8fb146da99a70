package main

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// observer is the base transport under authentication: it counts every round
// trip (token requests and digest challenges included), checks each answer
// to the operation against the embedded spec, and logs method, path and
// status only: never headers, which carry credentials.
type observer struct {
	next http.RoundTripper
	log  *slog.Logger

	mu         sync.Mutex
	roundTrips int
	violations []string
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	o.mu.Lock()
	o.roundTrips++
	o.mu.Unlock()
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		o.log.Debug("round trip failed", "method", req.Method, "path", req.URL.Path, "err", err)
		return nil, err
	}
	o.log.Debug("round trip", "method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "elapsed", time.Since(start))
	if _, perr := contract.MatchPath(req.URL.EscapedPath()); perr == nil { // the operation, not the token endpoints
		if verr := contract.CheckHTTPResponse(req.Context(), resp); verr != nil {
			o.mu.Lock()
			o.violations = append(o.violations, verr.Error())
			o.mu.Unlock()
		}
	}
	return resp, nil
}

// take returns and resets what was observed since the last call.
func (o *observer) take() (roundTrips int, violations []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	roundTrips, violations = o.roundTrips, o.violations
	o.roundTrips, o.violations = 0, nil
	return roundTrips, violations
}
