package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/atlascontract/deleteorgapikey"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// scenario is one row of the report: what to run and, once run, what came
// of it.
// It passes when four things hold. What run says the client told it is one
// of outcome's alternatives; without an outcome, run returns no error. The
// answers end with want's, and the last may be or's instead. Each answer
// fits the spec. And after finds the server as the calls should leave it.
type scenario struct {
	Name string `json:"scenario"`
	Auth string `json:"auth"`
	// Retries: the client retries failed attempts; else each answer is final.
	Retries    bool          `json:"retries"`
	Expected   string        `json:"expected"`
	Got        string        `json:"got"`
	RoundTrips int           `json:"roundTrips"`
	Duration   time.Duration `json:"durationNs"`
	Pass       bool          `json:"pass"`
	Detail     string        `json:"detail,omitempty"`

	want    []behavior.Situation
	or      behavior.Situation
	outcome string // alternatives joined by " or "
	run     func(context.Context) (said string, err error)
	after   func() error
}

// one is a want of one answer.
func one(s behavior.Situation) []behavior.Situation { return []behavior.Situation{s} }

// report is what a run prints.
type report struct {
	Target  string     `json:"target"` // base URL, organization and auth scheme; never a secret
	Results []scenario `json:"results"`
	Passed  int        `json:"passed"` // write counts Passed and Failed
	Failed  int        `json:"failed"`
}

// runScenarios runs each scenario in turn against the server at baseURL.
// It stops after a scenario that cannot reach the server: the rest would
// only fail the same way, slowly.
func runScenarios(ctx context.Context, obs *observer, baseURL string,
	scenarios []scenario) []scenario {
	for i := range scenarios {
		s := &scenarios[i]
		obs.begin()
		start := time.Now()
		said, err := s.run(ctx)
		s.Duration = time.Since(start)
		trips, answers, problems := obs.seen()
		op, unreachable := errors.AsType[*net.OpError](err)
		switch unreachable = unreachable && op.Op == "dial"; {
		case unreachable:
			problems = append(problems, fmt.Errorf("cannot reach %s: %w", baseURL, op.Err))
		case s.outcome == "" && err != nil:
			problems = append(problems, err)
		case !slices.Contains(strings.Split(s.outcome, " or "), said):
			problems = append(problems, fmt.Errorf("the client said %q, want %q", said, s.outcome),
				err)
		default:
			problems = append(problems, s.matches(answers))
		}
		if s.after != nil {
			problems = append(problems, s.after())
		}
		want := make([]answer, len(s.want))
		for i, w := range s.want {
			a, _ := behavior.Lookup(w)
			want[i] = answer{status: a.Status, code: a.ErrorCode}
		}
		problem := errors.Join(problems...)
		s.Expected, s.RoundTrips, s.Pass = column(want, s.outcome), trips, problem == nil
		s.Got = cmp.Or(column(answers[max(0, len(answers)-max(1, len(want))):], said), "error")
		if problem != nil {
			s.Detail = strings.ReplaceAll(problem.Error(), "\n", "; ")
		}
		if unreachable {
			s.Detail += fmt.Sprintf(" (scenarios not run: %d)", len(scenarios)-i-1)
			return scenarios[:i+1]
		}
	}
	return scenarios
}

// matches holds answers to s.want. Answers before the wanted ones must be
// digest challenges, unless s retries: then they were retried.
func (s scenario) matches(answers []answer) error {
	extra := len(answers) - len(s.want)
	if extra < 0 {
		return fmt.Errorf("%d answers, want %d", len(answers), len(s.want))
	}
	for i, a := range answers {
		w := behavior.Unauthenticated
		if i >= extra {
			w = s.want[i-extra]
		} else if s.Retries {
			continue
		}
		last := i == len(answers)-1
		if err := a.is(w); err != nil && (!last || s.or == "" || a.is(s.or) != nil) {
			return err
		}
	}
	return nil
}

// says puts what Client.Remove told its caller in words: the Outcome, or
// the class of its error, and where the error came from.
func says(outcome deleteorgapikey.Outcome, err error) (string, error) {
	ip, _ := behavior.Lookup(behavior.IPNotAllowed)
	said := outcome.String() // "failed" for an error of no class below
	switch {
	case errors.Is(err, deleteorgapikey.ErrUnauthorized):
		said = "refused"
	case deleteorgapikey.IsErrorCode(err, ip.ErrorCode):
		said = "IP not allowed"
	case errors.Is(err, deleteorgapikey.ErrForbidden):
		said = "not an owner"
	case errors.Is(err, deleteorgapikey.ErrOrgNotFound):
		said = "org not found"
	case errors.Is(err, deleteorgapikey.ErrRateLimited):
		said = "rate limited"
	case errors.Is(err, deleteorgapikey.ErrServerError):
		said = "server error"
	}
	if pe, ok := errors.AsType[*deleteorgapikey.ParamError](err); ok {
		said = "ParamError " + pe.Name
	} else if te, ok := errors.AsType[*authedit.TokenError](err); ok {
		said = fmt.Sprintf("token endpoint %d → %s", te.StatusCode, said)
	}
	return said, err
}

// answer is one answer to the operation, with its ApiError's errorCode and
// detail, if any.
type answer struct {
	status       int
	header       http.Header
	head         string // the status line and headers as sent, if -record's transport kept them
	body         []byte
	code, detail string
}

// column is how the EXPECTED and GOT columns show answers: the status and
// errorCode of one, or the statuses of several; then → what the client said.
func column(answers []answer, said string) string {
	parts := make([]string, len(answers))
	for i, a := range answers {
		parts[i] = fmt.Sprint(a.status)
		if len(answers) == 1 && a.code != "" {
			parts[i] += " " + a.code
		}
	}
	if len(parts) > 0 && said != "" {
		said = " → " + said
	}
	return strings.Join(parts, ", ") + said
}

// is checks a against Atlas's answer in situation s: the status, the
// errorCode, the Content-Type and the headers.
// It allows what Atlas may send instead. A key not found may come as 404:
// the Atlas CLI and Terraform read it as the 400. A non-owner may get any
// of Atlas's role errors, or a 403 other than the access list's, as
// upstream documents. An errorCode whose evidence is "ours" is not held to.
func (a answer) is(s behavior.Situation) error {
	w, _ := behavior.Lookup(s)
	ip, _ := behavior.Lookup(behavior.IPNotAllowed)
	status := a.status == w.Status
	code := a.code == w.ErrorCode || w.Evidence == behavior.Ours
	switch s {
	case behavior.KeyNotFound:
		status = status || a.status == http.StatusNotFound
	case behavior.NotOwner:
		forbidden := a.status == http.StatusForbidden && a.code != ip.ErrorCode
		status = status || forbidden
		code = code || authedit.IsRoleError(a.code) || forbidden
	}
	ct := a.header.Get(behavior.ContentType)
	want := column([]answer{{status: w.Status, code: w.ErrorCode}}, "")
	problems := []error{
		check(!status || !code, "want %s", want),
		check(!strings.EqualFold(strings.ReplaceAll(ct, " ", ""), w.ContentType),
			"Content-Type %q, want %q", ct, w.ContentType),
	}
	for _, h := range w.Headers {
		problems = append(problems, check(a.header.Get(h) == "", "no %s header", h))
	}
	if err := errors.Join(problems...); err != nil {
		return fmt.Errorf("%s: %s (detail %q)", column([]answer{a}, ""),
			strings.ReplaceAll(err.Error(), "\n", ", "), a.detail)
	}
	return nil
}

// observer is the transport below authentication: it sees every round trip.
// It checks each answer to the operation against the spec and keeps it.
// For -record, it keeps each Authorization value, to redact, and each id
// sent. It logs no header: headers carry credentials.
type observer struct {
	base http.RoundTripper // nil: http.DefaultTransport; -record's keeps heads (record.go)
	log  *slog.Logger      // -v: each round trip's method, path and status; nil: none

	mu           sync.Mutex
	trips, first int      // the current scenario's round trips, and its first answer
	answers      []answer // the run's
	violations   []error  // the current scenario's
	secrets      []string
	ids          map[string]string // each id sent, to its parameter's name
}

// RoundTrip sends req through the base transport and observes the answer.
func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	auth, base := req.Header.Get("Authorization"), o.base
	if base == nil {
		base = http.DefaultTransport
	}
	req, head := withHead(req)
	res, err := base.RoundTrip(req)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trips++
	o.secrets = append(o.secrets, authParts(auth)...)
	if err != nil {
		return nil, err
	}
	if o.log != nil {
		o.log.Info("round trip", "method", req.Method, "path", req.URL.EscapedPath(),
			"status", res.StatusCode)
	}
	ids, err := contract.MatchPath(req.URL.EscapedPath())
	if err != nil {
		return res, nil // the token or revocation endpoint
	}
	if o.ids == nil {
		o.ids = map[string]string{}
	}
	for name, id := range ids {
		o.ids[id] = name
	}
	o.violations = append(o.violations, contract.CheckResponse(req.Context(), res))
	body, _ := io.ReadAll(res.Body) // in memory: CheckResponse read it, at most MaxBody+1 bytes
	res.Body = io.NopCloser(bytes.NewReader(body))
	var e struct{ ErrorCode, Detail string } // an ApiError's; null or no JSON leaves them empty
	_ = json.Unmarshal(body, &e)
	o.answers = append(o.answers, answer{status: res.StatusCode, header: res.Header.Clone(),
		head: head(), body: body, code: e.ErrorCode, detail: e.Detail})
	return res, nil
}

// begin starts a scenario: what is observed from now on is its own.
func (o *observer) begin() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trips, o.first, o.violations = 0, len(o.answers), nil
}

// seen returns what the current scenario's round trips showed.
func (o *observer) seen() (trips int, answers []answer, violations []error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.trips, o.answers[o.first:], slices.Clone(o.violations)
}

// write counts the results and prints the report: as JSON, or as a table
// as wide as its cells, with each failure in full under it.
func (r *report) write(w io.Writer, asJSON bool) error {
	for _, res := range r.Results {
		if !res.Pass {
			r.Failed++
		}
	}
	r.Passed = len(r.Results) - r.Failed
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintln(w, "target:", r.Target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tAUTH\tRETRY\tEXPECTED\tGOT\tTRIPS\tTIME\tVERDICT")
	retry := map[bool]string{true: "on", false: "off"}
	verdict := map[bool]string{true: "PASS", false: "FAIL"}
	var failures strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", res.Name, res.Auth,
			retry[res.Retries], res.Expected, res.Got, res.RoundTrips,
			res.Duration.Round(100*time.Microsecond), verdict[res.Pass])
		if !res.Pass {
			fmt.Fprintf(&failures, "FAIL %s [%s]: expected %s; got %s; %s\n",
				res.Name, res.Auth, res.Expected, res.Got, res.Detail)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s%d passed, %d failed\n", &failures, r.Passed, r.Failed)
	return err
}
