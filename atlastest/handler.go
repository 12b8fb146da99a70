package atlastest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// exchange is one request: the ResponseWriter handlers write through (it
// notes the status, and sends nothing for a dropped request), its log entry,
// and what admit learnt.
type exchange struct {
	http.ResponseWriter
	Request
	caller           *caller // once authenticated
	pretty, envelope bool
}

func (x *exchange) WriteHeader(code int) {
	if x.Status == 0 && !x.Dropped {
		x.ResponseWriter.WriteHeader(code)
	}
	x.Status = cmp.Or(x.Status, code)
}

func (x *exchange) Write(b []byte) (int, error) {
	x.WriteHeader(http.StatusOK)
	if x.Dropped {
		return len(b), nil
	}
	return x.ResponseWriter.Write(b)
}

// queryFlags are the query parameters implemented, a flag counting when sent
// once, as true; TestEveryQueryParameterIsImplemented holds them to the spec.
var queryFlags = map[string]func(*exchange){
	"envelope": func(x *exchange) { x.envelope = true },
	"pretty":   func(x *exchange) { x.pretty = true },
}

// newHandler serves the token and revocation endpoints, and the operation
// through the generated server once admit lets the request in.
func (s *Server) newHandler() http.Handler {
	api := gen.Handler(operation{s})
	slashes := strings.Count(contract.MustLoad().Path, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{ResponseWriter: w, Request: Request{Method: r.Method, Path: clip(r.URL.EscapedPath(), 256),
			Query: clip(r.URL.RawQuery, 256), Auth: authScheme(r)}}
		defer func() {
			if x.caller != nil {
				x.Principal = map[bool]string{true: "owner", false: "member"}[x.caller.owner]
			}
			s.record(x.Request) // before the client can see the answer or the lost connection
			if x.Dropped {
				panic(http.ErrAbortHandler) // net/http closes the connection (HTTP/2: resets the stream), unanswered
			}
		}()
		switch r.URL.Path {
		case contract.TokenPath():
			s.serveOAuth(x, r, s.token)
		case contract.RevokePath():
			s.serveOAuth(x, r, s.revoke)
		default:
			if s.admit(x, r, slashes) {
				api.ServeHTTP(x, r)
			}
		}
	})
}

// admit runs the checks before the operation's, in doc.go's order.
func (s *Server) admit(x *exchange, r *http.Request, slashes int) bool {
	q := r.URL.Query()
	for name, set := range queryFlags {
		if vs := q[name]; len(vs) == 1 && vs[0] == "true" {
			set(x)
		}
	}
	_, err := contract.CheckRequest(r)
	var pe *contract.ParamError
	errors.As(err, &pe) // CheckRequest's only error type
	switch {
	case strings.Count(r.URL.EscapedPath(), "/") != slashes || pe != nil && pe.Name == "path" || r.Method != http.MethodDelete:
		target := clip(r.Method+" "+r.URL.EscapedPath(), 100)
		s.write(x, s.answer(behavior.NoSuchResource, nil, target, contract.MustLoad().Path))
	case pe != nil:
		a := s.answer(behavior.InvalidParameter, nil, pe.In, pe.Name)
		a.field = &gen.FieldViolation{Field: pe.Name, Description: pe.Reason}
		s.write(x, a)
	default:
		c, fail := s.authenticate(r)
		switch x.caller = c; {
		case fail != nil:
			x.AuthError = fail.detail
			s.write(x, s.unauthorized(fail))
		case !acceptsVersion(r.Header):
			s.write(x, s.answer(behavior.InvalidVersion, nil))
		default:
			return true
		}
	}
	return false
}

// acceptsVersion: Accept names a resource version on or after the spec's.
// Atlas refuses a missing or unversioned Accept (reported) and serves later
// dates (recorded).
func acceptsVersion(h http.Header) bool {
	prefix, suffix, _ := strings.Cut(contract.AcceptHeader(), contract.APIVersion())
	for _, v := range h.Values("Accept") {
		for _, mediaRange := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(mediaRange)
			date, versioned := strings.CutPrefix(mt, prefix)
			date, plusJSON := strings.CutSuffix(date, suffix)
			if err != nil || !versioned || !plusJSON || params["q"] != "" && strings.Trim(params["q"], "0.") == "" {
				continue
			}
			if _, err := time.Parse(time.DateOnly, date); err == nil && date >= contract.APIVersion() {
				return true
			}
		}
	}
	return false
}

func authScheme(r *http.Request) string {
	scheme, _, _ := strings.Cut(strings.ToLower(r.Header.Get("Authorization")), " ")
	if scheme = cmp.Or(scheme, "none"); !slices.Contains([]string{"none", "digest", "bearer", "basic"}, scheme) {
		return "other"
	}
	return scheme
}

// operation implements the generated server interface; its ResponseWriter
// is the admitted request's *exchange.
type operation struct{ s *Server }

// DeleteOrgApiKey goes on in doc.go's order: faults, the organization, the
// role, the bucket (so that only authorized requests spend it), the key.
func (op operation) DeleteOrgApiKey(w http.ResponseWriter, r *http.Request, orgID gen.OrgId, keyID gen.ApiUserId, _ gen.DeleteOrgApiKeyParams) {
	s, x := op.s, w.(*exchange)
	fail, retryAfter := s.op.apply(x, r)
	o, known := s.orgs[orgID]
	if !known {
		o = &org{limiter: newLimiter(s.cfg.ops)} // reads full, holds nothing
	}
	authorized := fail == "" && x.caller.org == o && x.caller.owner
	h, ok := limits(s.cfg.ops, o.limiter, s.cfg.now(), authorized)
	sit := behavior.Removed
	switch {
	case fail != "":
		s.write(x, s.injected(fail, h, retryAfter, s.params(fail, "", orgID, keyID)...))
		return
	case !known:
		sit = behavior.OrgNotFound
	case !authorized:
		sit = behavior.NotOwner
	case !ok:
		sit = behavior.RateLimited
	case !s.deleteKey(o, keyID):
		sit = behavior.KeyNotFound
	}
	s.write(x, s.answer(sit, h, s.params(sit, "", orgID, keyID)...))
}

// params are the values an answer names in its detail and parameters.
func (s *Server) params(sit behavior.Situation, path, orgID, keyID string) []any {
	switch sit {
	case behavior.KeyNotFound:
		return []any{keyID}
	case behavior.NotOwner, behavior.OrgNotFound:
		return []any{orgID}
	case behavior.TokenRateLimited:
		return []any{path, s.cfg.tokens.Capacity, int(s.cfg.tokens.Period / time.Minute)}
	}
	return nil
}

// limits shows a bucket as rate-limit headers, first spending a request
// if spend is set: ok is false, and Retry-After set, when it had none.
func limits(b contract.Budget, lim *rate.Limiter, now time.Time, spend bool) (http.Header, bool) {
	h, ok := http.Header{}, true
	if spend {
		if r := lim.ReserveN(now, 1); r.DelayFrom(now) > 0 {
			h.Set(behavior.RetryAfter, seconds(r.DelayFrom(now)))
			r.CancelAt(now)
			ok = false
		}
	}
	h.Set(behavior.RateLimitLimit, strconv.Itoa(b.Capacity))
	h.Set(behavior.RateLimitRemaining, strconv.Itoa(max(0, int(lim.TokensAt(now)))))
	return h, ok
}

func newLimiter(b contract.Budget) *rate.Limiter {
	return rate.NewLimiter(rate.Every(b.Period/time.Duration(b.Refill)), b.Capacity)
}

// seconds is d in whole seconds, rounded up, as Retry-After counts.
func seconds(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }

// answer is a row of internal/behavior's table, the values of its detail
// and parameters, and of the headers it lists.
type answer struct {
	row    behavior.Answer
	params []any
	header http.Header
	field  *gen.FieldViolation // the parameter a VALIDATION_ERROR names
}

func (s *Server) answer(sit behavior.Situation, h http.Header, params ...any) answer {
	return answer{row: s.rows[sit], params: params, header: h}
}

// plainBody is an error body without parameters, Atlas's 401's, its keys in
// Atlas's order (recorded); the generated ApiError would sort them.
type plainBody struct {
	Error     int    `json:"error"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail"`
	ErrorCode string `json:"errorCode"`
}

// write sends a: its row's status, content type and headers, and an
// ApiError for an error, enveloped and pretty-printed as doc.go says.
func (s *Server) write(x *exchange, a answer) {
	row, status, h := a.row, a.row.Status, x.Header()
	for _, name := range row.Headers {
		if name == behavior.XErrorCode {
			h.Set(name, row.ErrorCode)
		} else if vs := a.header[name]; len(vs) > 0 {
			h[name] = vs
		}
	}
	h.Set(behavior.ContentType, row.ContentType)
	var body any
	reason, detail := http.StatusText(status), fmt.Sprintf(row.Detail, a.params...)
	switch {
	case row.ErrorCode == "":
	case row.NoParameters:
		body = plainBody{status, reason, detail, row.ErrorCode}
	default:
		ps := append([]any{}, a.params...) // [] when none
		e := gen.ApiError{Error: int32(status), ErrorCode: row.ErrorCode, Reason: &reason, Detail: &detail, Parameters: &ps}
		if a.field != nil {
			e.BadRequestDetail = &gen.BadRequestDetail{Fields: &[]gen.FieldViolation{*a.field}}
		}
		body = e
	}
	if x.envelope && x.caller != nil && status != http.StatusUnauthorized {
		env := struct {
			Content json.RawMessage `json:"content,omitempty"`
			Status  int             `json:"status"`
		}{Status: status}
		if body != nil {
			env.Content, _ = json.Marshal(body)
		}
		body, status = env, http.StatusOK
		h.Set(behavior.ContentType, s.rows[behavior.Enveloped].ContentType)
	}
	x.WriteHeader(status)
	if body != nil {
		b, _ := json.Marshal(body) // strings and numbers: cannot fail
		if x.pretty || row.Pretty {
			b = jackson(b)
		}
		_, _ = x.Write(b) // a write error means the client is gone
	}
}

// jackson re-prints compact JSON as Atlas (Jackson's default printer,
// recorded on the 401) does: one "key" : value a line, indented two spaces
// for each open object; arrays on one line as [ a, b ]; { } and [ ] empty.
func jackson(compact []byte) []byte {
	var out, open []byte // open: the containers open here, '{' or '['
	newline := func() { out = append(out, "\n"+strings.Repeat("  ", bytes.Count(open, []byte{'{'}))...) }
	for i := 0; i < len(compact); i++ {
		switch c := compact[i]; {
		case c == '"': // json.Marshal's strings are Go string literals too
			q, _ := strconv.QuotedPrefix(string(compact[i:]))
			out, i = append(out, q...), i+max(len(q)-1, 0)
		case (c == '{' || c == '[') && (compact[i+1] == '}' || compact[i+1] == ']'):
			out, i = append(out, c, ' ', compact[i+1]), i+1
		case c == '{':
			open, out = append(open, c), append(out, c)
			newline()
		case c == '[':
			open, out = append(open, c), append(out, "[ "...)
		case c == '}':
			open = open[:len(open)-1]
			newline()
			out = append(out, c)
		case c == ']':
			open, out = open[:len(open)-1], append(out, " ]"...)
		case c == ':':
			out = append(out, " : "...)
		case c == ',' && open[len(open)-1] == '{':
			out = append(out, c)
			newline()
		case c == ',':
			out = append(out, ", "...)
		default:
			out = append(out, c)
		}
	}
	return out
}

// Faults scripts an endpoint's failures, applied in arrival order to requests
// whose caller authenticated (and, at the operation, named a version).
type Faults struct {
	where               string
	statuses            map[int]behavior.Situation // what FailNext may send
	budget              contract.Budget            // of the bucket an injected 429 names
	mu                  sync.Mutex
	failN, dropN        int
	fail                behavior.Situation
	latency, retryAfter time.Duration // retryAfter < 0: the bucket's time to regain a request
}

// operationStatuses maps each error status the spec documents to the first
// row of internal/behavior's table with it, or to "".
func operationStatuses() map[int]behavior.Situation {
	m := map[int]behavior.Situation{}
	for code := range contract.MustLoad().Op.Responses.Map() {
		if status, err := strconv.Atoi(code); err == nil && status >= 400 {
			m[status] = ""
		}
	}
	for _, a := range slices.Backward(behavior.Table()) {
		if _, ok := m[a.Status]; ok && a.ErrorCode != "" {
			m[a.Status] = a.Situation
		}
	}
	return m
}

// FailNext answers the next n requests with status, changing nothing, as
// Atlas would: with the first row of internal/behavior's table for it (at
// the token and revocation endpoints: 429 as Atlas's token limit, or 500);
// a 429 shows an empty bucket and Retry-After. Any other status panics.
// n <= 0 cancels; a call replaces the previous one.
func (f *Faults) FailNext(n, status int) {
	sit, ok := f.statuses[status]
	check(ok, "FailNext(%d, %d): %s answers only %v", n, status, f.where, slices.Sorted(maps.Keys(f.statuses)))
	check(sit != "", "FailNext(%d, %d): the spec documents %d, but internal/behavior's table has no answer with it: add its row", n, status, status)
	f.locked(func() { f.failN, f.fail = max(0, n), sit })
}

// DropNext makes the next n requests take effect (a key deleted, a token
// issued or revoked), then closes the connection unanswered. n <= 0 cancels.
func (f *Faults) DropNext(n int) { f.locked(func() { f.dropN = max(0, n) }) }

// SetLatency delays every request by d from now on; d <= 0 removes the
// delay. A client that gives up meanwhile gets no answer and changes nothing.
func (f *Faults) SetLatency(d time.Duration) { f.locked(func() { f.latency = max(0, d) }) }

// SetRetryAfter sets the Retry-After of injected 429s, in seconds rounded
// up; by default, or for d < 0, the time the endpoint's bucket takes to
// regain a request (1 s at Atlas's organization rates, 2 s at its token rates).
func (f *Faults) SetRetryAfter(d time.Duration) { f.locked(func() { f.retryAfter = d }) }

func (f *Faults) locked(set func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set()
}

// apply waits out the latency (a client leaving meanwhile aborts the
// request), then returns what FailNext asked for and its Retry-After, or
// arms a drop.
func (f *Faults) apply(x *exchange, r *http.Request) (fail behavior.Situation, retryAfter time.Duration) {
	var latency time.Duration
	f.locked(func() {
		latency, retryAfter = f.latency, f.retryAfter
		if f.failN > 0 {
			f.failN, fail = f.failN-1, f.fail
		} else if f.dropN > 0 {
			f.dropN, x.Dropped = f.dropN-1, true
		}
	})
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			x.Dropped = false
			panic(http.ErrAbortHandler) // the client left: no answer, no state change
		}
	}
	if retryAfter < 0 {
		retryAfter = f.budget.Period / time.Duration(f.budget.Refill)
	}
	return fail, retryAfter
}

// injected is the answer FailNext asked for: with the rate-limit headers h,
// and the challenges or the Retry-After its row lists.
func (s *Server) injected(sit behavior.Situation, h http.Header, retryAfter time.Duration, params ...any) answer {
	a := s.answer(sit, h, params...)
	if slices.Contains(a.row.Headers, behavior.WWWAuthenticate) {
		return s.unauthorized(&authFailure{detail: "Injected by FailNext."})
	}
	if slices.Contains(a.row.Headers, behavior.RetryAfter) {
		h.Set(behavior.RateLimitRemaining, "0")
		h.Set(behavior.RetryAfter, seconds(retryAfter))
	}
	return a
}

// FailNext, DropNext, SetLatency and SetRetryAfter are the operation's
// [Faults] methods.
func (s *Server) FailNext(n, status int)        { s.op.FailNext(n, status) }
func (s *Server) DropNext(n int)                { s.op.DropNext(n) }
func (s *Server) SetLatency(d time.Duration)    { s.op.SetLatency(d) }
func (s *Server) SetRetryAfter(d time.Duration) { s.op.SetRetryAfter(d) }

// TokenEndpoint scripts the token endpoint's faults.
func (s *Server) TokenEndpoint() *Faults { return s.token }

// RevokeEndpoint scripts the revocation endpoint's faults.
func (s *Server) RevokeEndpoint() *Faults { return s.revoke }
