package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// answer is one answer to the operation, as the observer saw it.
type answer struct {
	status       int
	header       http.Header
	body         []byte
	code, detail string // the ApiError's errorCode and detail; "" when the body has none
	scenario     string // the scenario that got it, and the situations it probes: for -record
	probes       []behavior.Situation
}

func newAnswer(status int, header http.Header, body []byte) answer {
	a := answer{status: status, header: header, body: body}
	var e gen.ApiError
	if json.Unmarshal(body, &e) == nil {
		a.code = e.ErrorCode
		if e.Detail != nil {
			a.detail = *e.Detail
		}
	}
	return a
}

// String is the answer for the GOT column: status and errorCode.
func (a answer) String() string {
	if a.code == "" {
		return strconv.Itoa(a.status)
	}
	return fmt.Sprintf("%d %s", a.status, a.code)
}

// expected is how the EXPECTED column shows a situation: status and errorCode.
func expected(s behavior.Situation) string {
	a, _ := behavior.Lookup(s)
	return answer{status: a.Status, code: a.ErrorCode}.String()
}

// is checks a against what Atlas answers in situation s (internal/behavior):
// status, errorCode, content type and the headers Atlas sends. On a
// mismatch the error shows what the server said: its errorCode and detail.
func (a answer) is(s behavior.Situation) error {
	want, ok := behavior.Lookup(s)
	if !ok {
		return fmt.Errorf("situation %q is not in internal/behavior's table", s)
	}
	var problems []string
	if a.status != want.Status || a.code != want.ErrorCode {
		problems = append(problems, fmt.Sprintf("want %s", expected(s)))
	}
	if !sameMediaType(a.header.Get(behavior.ContentType), want.ContentType) {
		problems = append(problems, fmt.Sprintf("Content-Type %q, want %q", a.header.Get(behavior.ContentType), want.ContentType))
	}
	for _, h := range want.Headers {
		if a.header.Get(h) == "" {
			problems = append(problems, "no "+h+" header")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (server said errorCode %q, detail %q)", a, strings.Join(problems, ", "), a.code, a.detail)
}

func sameMediaType(got, want string) bool {
	gt, gp, err1 := mime.ParseMediaType(got)
	wt, wp, err2 := mime.ParseMediaType(want)
	return err1 == nil && err2 == nil && gt == wt && maps.Equal(gp, wp)
}

// observer is the base transport under authentication: it sees every round
// trip (token requests and digest challenges included), checks each answer
// to the operation against the embedded spec and keeps it for the
// scenario's expectations and -record, and learns the secrets that pass by
// (Authorization values, issued tokens) so that -record can redact them.
// It logs method, path and status only: never headers, which carry credentials.
type observer struct {
	next http.RoundTripper
	log  *slog.Logger

	mu         sync.Mutex
	scenario   string
	probes     []behavior.Situation
	roundTrips int
	answers    []answer // of the current scenario
	recorded   []answer // of every scenario
	violations []string
	secrets    []string
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	auth := req.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, " ")
	o.learn(auth, cred)
	resp, err := o.next.RoundTrip(req)
	o.mu.Lock()
	o.roundTrips++
	o.mu.Unlock()
	if err != nil {
		o.log.Debug("round trip failed", "method", req.Method, "path", req.URL.Path, "err", err)
		return nil, err
	}
	o.log.Debug("round trip", "method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "elapsed", time.Since(start))
	if _, perr := contract.MatchPath(req.URL.EscapedPath()); perr != nil {
		// The token or revocation endpoint: only an issued token matters here.
		var t struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(peek(resp), &t)
		o.learn(t.AccessToken)
		return resp, nil
	}
	verr := contract.CheckHTTPResponse(req.Context(), resp)
	body := peek(resp)
	a := newAnswer(resp.StatusCode, resp.Header.Clone(), body)
	o.mu.Lock()
	defer o.mu.Unlock()
	a.scenario, a.probes = o.scenario, o.probes
	o.answers = append(o.answers, a)
	o.recorded = append(o.recorded, a)
	if verr != nil {
		o.violations = append(o.violations, verr.Error())
	}
	return resp, nil
}

// peek reads resp's body, at most contract.MaxBody+1 bytes, and puts what it
// read back for the client.
func peek(resp *http.Response) []byte {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, contract.MaxBody+1))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body
}

func (o *observer) learn(secrets ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			o.secrets = append(o.secrets, s)
		}
	}
}

// begin starts a scenario: what is observed from now on is its own.
func (o *observer) begin(name string, probes []behavior.Situation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.scenario, o.probes = name, probes
	o.roundTrips, o.answers, o.violations = 0, nil, nil
}

// seen returns what was observed since begin.
func (o *observer) seen() (roundTrips int, answers []answer, violations []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.roundTrips, o.answers, o.violations
}
