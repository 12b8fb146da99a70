package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
)

// controlPath is the root of the control API, the announcement's
// controlUrl. No Atlas path starts with it.
// Each route calls the atlastest method a Go test would call; the README
// lists the routes.
const controlPath = "/__atlastest"

// faults is what a Go test scripts at one endpoint of an atlastest.Server.
type faults interface {
	FailNext(n, status int)
	DropNext(n int)
	SetLatency(d time.Duration)
	SetRetryAfter(d time.Duration)
}

// faultScript calls the method of each field given, with the same meaning.
// A field left out changes nothing.
type faultScript struct {
	FailNext *struct {
		Count  int `json:"count"`
		Status int `json:"status"`
	} `json:"failNext"`
	DropNext          *int     `json:"dropNext"`
	LatencySeconds    *float64 `json:"latencySeconds"`
	RetryAfterSeconds *float64 `json:"retryAfterSeconds"`
}

// logEntry is an atlastest.Request as the control API and -v show it.
// It holds no header, no query and no secret.
type logEntry struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Auth        string `json:"auth"`
	Principal   string `json:"principal"`
	Status      int    `json:"status"`
	Dropped     bool   `json:"dropped"`
	TokenIssued bool   `json:"tokenIssued"`
}

// entry is r as the log shows it.
func entry(r atlastest.Request) logEntry {
	return logEntry{Method: r.Method, Path: r.Path, Auth: r.Auth, Principal: r.Principal,
		Status: r.Status, Dropped: r.Dropped, TokenIssued: r.TokenIssued}
}

// withControl serves the control API under controlPath, and the rest of
// the paths with srv.
func withControl(srv *atlastest.Server) http.Handler {
	endpoints := map[string]faults{"operation": srv, "token": srv.TokenEndpoint(),
		"revoke": srv.RevokeEndpoint()}
	mux := http.NewServeMux()
	route := func(pattern string, h func(r *http.Request) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status, body := h(r)
			if body != nil {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(status)
			if body != nil {
				_ = json.NewEncoder(w).Encode(body)
			}
		})
	}
	route("POST "+controlPath+"/faults/{endpoint}", func(r *http.Request) (int, any) {
		f, ok := endpoints[r.PathValue("endpoint")]
		if !ok {
			return problem(http.StatusNotFound, "no endpoint %q: operation, token or revoke",
				r.PathValue("endpoint"))
		}
		var s faultScript
		if err := decode(r, &s); err != nil {
			return problem(http.StatusBadRequest, "the body must be one JSON object of failNext, "+
				"dropNext, latencySeconds and retryAfterSeconds: %v", err)
		}
		if err := s.apply(f); err != nil {
			return problem(http.StatusBadRequest, "%v", err)
		}
		return http.StatusNoContent, nil
	})
	route("POST "+controlPath+"/access-list/{who}", func(r *http.Request) (int, any) {
		who := map[string]atlastest.Principal{"owner": srv.Owner(), "member": srv.Member()}
		p, ok := who[r.PathValue("who")]
		var body struct {
			CIDRs []string `json:"cidrs"`
		}
		switch {
		case !ok:
			return problem(http.StatusNotFound, "no principal %q: owner or member",
				r.PathValue("who"))
		case decode(r, &body) != nil:
			return problem(http.StatusBadRequest, "the body must be one JSON object, "+
				`{"cidrs": [...]}: addresses or CIDR blocks; [] clears the list`)
		}
		if err := recovered(func() { srv.SetAccessList(p, body.CIDRs...) }); err != nil {
			return problem(http.StatusBadRequest, "%v", err)
		}
		return http.StatusNoContent, nil
	})
	route("POST "+controlPath+"/keys", func(*http.Request) (int, any) {
		return http.StatusCreated, map[string]string{"id": srv.AddKey()}
	})
	route("GET "+controlPath+"/keys/{id}", func(r *http.Request) (int, any) {
		id := r.PathValue("id")
		return http.StatusOK, map[string]any{"id": id, "exists": srv.HasKey(id)}
	})
	route("GET "+controlPath+"/requests", func(*http.Request) (int, any) {
		entries := []logEntry{}
		for _, q := range srv.Requests() {
			entries = append(entries, entry(q))
		}
		return http.StatusOK, map[string]any{"requests": entries}
	})
	route("DELETE "+controlPath+"/requests", func(*http.Request) (int, any) {
		srv.ResetRequests()
		return http.StatusNoContent, nil
	})
	route(controlPath+"/", func(r *http.Request) (int, any) {
		return problem(http.StatusNotFound, "no control route %s %s", r.Method, r.URL.Path)
	})
	api := srv.Handler() // not through mux, which would clean the paths Atlas refuses
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, controlPath+"/") {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// decode reads r's body, at most 64 KiB, as exactly one JSON object of v's
// fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// recovered runs set, an atlastest set-up method, and returns its panic,
// which names what it refused, as an error. The method changes nothing
// when it panics.
func recovered(set func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	set()
	return nil
}

// problem is a control API's error: {"error": "what is wrong"}.
func problem(status int, format string, args ...any) (int, any) {
	return status, map[string]string{"error": fmt.Sprintf(format, args...)}
}

// apply calls f's methods. FailNext goes first: it panics on a status its
// endpoint does not answer, and then nothing has changed.
func (s faultScript) apply(f faults) error {
	for _, v := range []*float64{s.LatencySeconds, s.RetryAfterSeconds} {
		if v != nil && math.Abs(*v) > 86400 {
			return fmt.Errorf("latencySeconds and retryAfterSeconds are within a day, not %v", *v)
		}
	}
	if s.FailNext != nil {
		err := recovered(func() { f.FailNext(s.FailNext.Count, s.FailNext.Status) })
		if err != nil {
			return err
		}
	}
	if s.DropNext != nil {
		f.DropNext(*s.DropNext)
	}
	if s.LatencySeconds != nil {
		f.SetLatency(time.Duration(*s.LatencySeconds * float64(time.Second)))
	}
	if s.RetryAfterSeconds != nil {
		f.SetRetryAfter(time.Duration(*s.RetryAfterSeconds * float64(time.Second)))
	}
	return nil
}
