package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
)

// controlPath is the root of the control API, the announcement's
// controlUrl; no Atlas path starts with it. It drives the server through
// the methods a Go test calls. Its routes, JSON in and out:
//
//	POST   /faults/{operation|token|revoke}  body: faultScript  204
//	POST   /keys                             201 {"id": "..."}
//	GET    /keys/{id}                        200 {"id": "...", "exists": true}
//	GET    /requests                         200 {"requests": [logEntry, ...]}
//	DELETE /requests                         204
//
// An error is {"error": "what is wrong"}: 400 for a malformed request, 404
// for an unknown route or endpoint.
const controlPath = "/__atlastest"

// faults is what a Go test scripts at one endpoint of an atlastest.Server.
type faults interface {
	FailNext(n, status int)
	DropNext(n int)
	SetLatency(d time.Duration)
	SetRetryAfter(d time.Duration)
}

// faultScript calls the method of each field given, with the same meaning;
// a field left out changes nothing.
type faultScript struct {
	FailNext *struct {
		Count  int `json:"count"`
		Status int `json:"status"`
	} `json:"failNext"`
	DropNext          *int     `json:"dropNext"`
	LatencySeconds    *float64 `json:"latencySeconds"`
	RetryAfterSeconds *float64 `json:"retryAfterSeconds"`
}

// logEntry is a request as the control API and -v show it: no header, no
// query, no secret.
type logEntry struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Auth      string `json:"auth"`      // digest, bearer, basic, none or other
	Principal string `json:"principal"` // owner or member once authenticated, else ""
	Status    int    `json:"status"`    // 0 if the client left first
	// Dropped: dropNext lost the answer; Status is the one it would have had.
	Dropped     bool `json:"dropped"`
	TokenIssued bool `json:"tokenIssued"`
}

func entry(r atlastest.Request) logEntry {
	return logEntry{Method: r.Method, Path: r.Path, Auth: r.Auth, Principal: r.Principal,
		Status: r.Status, Dropped: r.Dropped, TokenIssued: r.TokenIssued}
}

// withControl serves the control API, and the rest through t to srv.
func withControl(srv *atlastest.Server, t *tail) http.Handler {
	endpoints := map[string]faults{"operation": srv, "token": srv.TokenEndpoint(),
		"revoke": srv.RevokeEndpoint()}
	mux := http.NewServeMux()
	route := func(pattern string, h func(r *http.Request) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status, body := h(r)
			w.Header().Set("Content-Type", "application/json")
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
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil || dec.More() {
			return problem(http.StatusBadRequest, "the body must be one JSON object of failNext, "+
				"dropNext, latencySeconds and retryAfterSeconds: %v", err)
		}
		if err := s.apply(f); err != nil {
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
		t.reset()
		return http.StatusNoContent, nil
	})
	route(controlPath+"/", func(r *http.Request) (int, any) {
		return problem(http.StatusNotFound, "no control route %s %s", r.Method, r.URL.Path)
	})
	api := srv.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, controlPath+"/") {
			mux.ServeHTTP(w, r)
			return
		}
		t.serve(api, w, r)
	})
}

func problem(status int, format string, args ...any) (int, any) {
	return status, map[string]string{"error": fmt.Sprintf(format, args...)}
}

// apply calls f's methods. FailNext goes first: it refuses (panics on) a
// status its endpoint does not answer, and then nothing has changed.
func (s faultScript) apply(f faults) (err error) {
	for _, v := range []*float64{s.LatencySeconds, s.RetryAfterSeconds} {
		if v != nil && math.Abs(*v) > 86400 {
			return fmt.Errorf("latencySeconds and retryAfterSeconds are within a day, not %v", *v)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	if s.FailNext != nil {
		f.FailNext(s.FailNext.Count, s.FailNext.Status)
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

// tail writes each request the server logs to enc as a JSON line (-v);
// with enc nil it only serves. The server's log keeps its last limit
// entries and does not say which are new, so tail counts since the last
// reset. While the log is not full, the new entries are those past the
// ones printed. Once it is full, they are the last ones answered since the
// last print, which is known only when no request is running: past limit
// requests, constant traffic gets its lines in bursts.
type tail struct {
	srv   *atlastest.Server
	enc   *json.Encoder
	limit int // the server's WithLogLimit

	mu                         sync.Mutex
	printed, answered, running int
}

func (t *tail) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if t.enc == nil {
		h.ServeHTTP(w, r)
		return
	}
	t.mu.Lock()
	t.running++
	t.mu.Unlock()
	defer t.flush() // a dropped answer panics: flush anyway
	h.ServeHTTP(w, r)
}

func (t *tail) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.running--
	t.answered++
	log := t.srv.Requests()
	printed := len(log)
	switch {
	case len(log) < t.limit:
		log = log[min(t.printed, len(log)):]
	case t.running > 0:
		return
	default:
		log, printed = log[max(0, len(log)-(t.answered-t.printed)):], t.answered
	}
	for _, r := range log {
		_ = t.enc.Encode(entry(r))
	}
	t.printed = printed
}

// reset forgets the requests logged so far.
func (t *tail) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.srv.ResetRequests()
	t.printed, t.answered = 0, 0
}
