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
	"net/netip"
	"path"
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
// notes the status, and sends nothing for a dropped request), its log
// entry, and what the checks learnt.
type exchange struct {
	http.ResponseWriter
	Request
	start            time.Time
	who              *principal // once authenticated
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

// newHandler routes with the generated server: the token and revocation
// endpoints, the operation, and a 404 for any other path or method.
func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(contract.TokenPath(), func(w http.ResponseWriter, r *http.Request) {
		s.serveOAuth(w.(*exchange), r, false)
	})
	mux.HandleFunc(contract.RevokePath(), func(w http.ResponseWriter, r *http.Request) {
		s.serveOAuth(w.(*exchange), r, true)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.noSuchResource(w.(*exchange), r)
	})
	opts := gen.StdHTTPServerOptions{BaseRouter: mux, ErrorHandlerFunc: s.badFlag}
	gen.HandlerWithOptions(operation{s}, opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		x := &exchange{ResponseWriter: w, start: time.Now(), Request: Request{Method: r.Method,
			Path: clip(r.URL.EscapedPath(), 256), Query: clip(r.URL.RawQuery, 256),
			Auth: clip(cmp.Or(strings.ToLower(scheme), "none"), 16)}}
		defer func() {
			s.record(x.Request) // before the client can see the answer or the lost connection
			if x.Dropped {
				// net/http closes the connection (HTTP/2: resets the stream)
				panic(http.ErrAbortHandler)
			}
		}()
		if !clean(r.URL.Path) { // ServeMux would redirect it: no such path is served
			s.noSuchResource(x, r)
			return
		}
		mux.ServeHTTP(x, r)
	})
}

// clean reports whether ServeMux leaves p as it is, with no "." or ".."
// segment and no empty one but a trailing slash.
func clean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

func (s *Server) noSuchResource(x *exchange, r *http.Request) {
	target := clip(r.Method+" "+r.URL.EscapedPath(), 100)
	s.write(x, behavior.NoSuchResource, nil, target, contract.MustLoad().Path)
}

// badFlag answers a query flag the generated router could not bind, once
// the caller has authenticated.
func (s *Server) badFlag(w http.ResponseWriter, r *http.Request, err error) {
	x, name := w.(*exchange), err.Error()
	if bad := (*gen.InvalidParamFormatError)(nil); errors.As(err, &bad) { // what the router reports
		name = bad.ParamName
	}
	if s.authenticated(x, r) {
		s.write(x, behavior.InvalidFlag, nil, name)
	}
}

// acceptsVersion: Accept names a resource version on or after the spec's.
// Atlas refuses a missing or unversioned Accept (reported) and serves later
// dates (recorded). A media range with q=0 refuses.
func acceptsVersion(h http.Header) bool {
	prefix, suffix, _ := strings.Cut(contract.AcceptHeader(), contract.APIVersion())
	for _, v := range h.Values("Accept") {
		for _, mediaRange := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(mediaRange)
			date, versioned := strings.CutPrefix(mt, prefix)
			date, plusJSON := strings.CutSuffix(date, suffix)
			refused := params["q"] != "" && strings.Trim(params["q"], "0.") == ""
			_, dateErr := time.Parse(time.DateOnly, date)
			served := dateErr == nil && date >= contract.APIVersion()
			if err == nil && versioned && plusJSON && !refused && served {
				return true
			}
		}
	}
	return false
}

// operation implements the generated server interface; its ResponseWriter
// is the request's *exchange.
type operation struct{ s *Server }

// DeleteOrgApiKey answers in doc.go's order: authentication, the ids,
// Accept, faults, the organization, the access list, the role, the bucket
// (so that only authorized requests spend it), the key.
func (op operation) DeleteOrgApiKey(w http.ResponseWriter, r *http.Request,
	orgID gen.OrgId, keyID gen.ApiUserId, flags gen.DeleteOrgApiKeyParams) {
	s, x := op.s, w.(*exchange)
	if !s.authenticated(x, r) {
		return
	}
	x.readFlags(flags)
	idErr := cmp.Or(contract.CheckParam("orgId", orgID), contract.CheckParam("apiUserId", keyID))
	if bad := (*contract.ParamError)(nil); errors.As(idErr, &bad) {
		s.write(x, behavior.InvalidParameter, nil, bad.Name)
		return
	}
	if !acceptsVersion(r.Header) {
		s.write(x, behavior.InvalidVersion, nil)
		return
	}
	sit, wait := s.op.apply(x, r)
	known := orgID == s.org.id
	addrPort, _ := netip.ParseAddrPort(r.RemoteAddr) // the zero Addr if net/http does not know it
	ip := addrPort.Addr().Unmap()
	allowed := known && s.allows(x.who, ip)
	owner := allowed && hasRoles(x.who)
	var h http.Header
	if known { // an unknown organization has no bucket
		h, wait = s.limits(s.cfg.ops, s.org.limiter, sit == "" && owner, wait)
	}
	switch {
	case sit != "":
	case !known:
		sit = behavior.OrgNotFound
	case !allowed:
		sit = behavior.IPNotAllowed
	case !owner:
		sit = behavior.NotOwner
	case wait >= 0:
		sit = behavior.RateLimited
	case !s.deleteKey(keyID):
		sit = behavior.KeyNotFound
	default:
		sit = behavior.Removed
	}
	b := s.cfg.ops
	params := map[behavior.Situation][]any{ // what each answer names in its detail and parameters
		behavior.KeyNotFound:  {keyID},
		behavior.IPNotAllowed: {ip.String()},
		behavior.OrgNotFound:  {orgID},
		behavior.RateLimited: {strings.TrimPrefix(r.URL.EscapedPath(), "/"), seconds(wait),
			b.Capacity, b.Refill, int(b.Period / time.Second)},
	}
	s.write(x, sit, h, params[sit]...)
}

// readFlags takes the query flags the generated router bound. A query
// parameter added to the spec adds a field to gen.DeleteOrgApiKeyParams:
// implement it here (TestEveryQueryParameterIsImplemented checks).
func (x *exchange) readFlags(flags gen.DeleteOrgApiKeyParams) {
	x.envelope = flags.Envelope != nil && *flags.Envelope
	x.pretty = flags.Pretty != nil && *flags.Pretty
}

// hasRoles: who holds every role the spec's x-rolesRequirements names.
func hasRoles(who *principal) bool {
	return !slices.ContainsFunc(contract.RequiredRoles(), func(role string) bool {
		return !slices.Contains(who.roles, role)
	})
}

// limits shows a bucket as rate-limit headers, first spending a request if
// spend is set. When the bucket had none, or wait is not negative (an
// injected 429), the headers say so with Retry-After. It returns the
// headers and the wait they name, -1 for none.
func (s *Server) limits(b contract.Budget, lim *rate.Limiter, spend bool,
	wait time.Duration) (http.Header, time.Duration) {
	now, h := s.cfg.now(), http.Header{}
	h.Set(behavior.RateLimitLimit, strconv.Itoa(b.Capacity))
	if spend {
		if r := lim.ReserveN(now, 1); r.DelayFrom(now) > 0 {
			wait = r.DelayFrom(now)
			r.CancelAt(now)
		}
	}
	h.Set(behavior.RateLimitRemaining, strconv.Itoa(max(0, int(lim.TokensAt(now)))))
	if wait >= 0 {
		h.Set(behavior.RateLimitRemaining, "0")
		h.Set(behavior.RetryAfter, strconv.Itoa(seconds(wait)))
	}
	return h, wait
}

func newLimiter(b contract.Budget) *rate.Limiter {
	return rate.NewLimiter(rate.Every(b.Period/time.Duration(b.Refill)), b.Capacity)
}

// seconds is d in whole seconds, rounded up, as Retry-After counts.
func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// plainBody is an error body without parameters, Atlas's 401's, its keys in
// Atlas's order (recorded); the generated ApiError would sort them.
type plainBody struct {
	Error     int    `json:"error"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail"`
	ErrorCode string `json:"errorCode"`
}

// write sends the answer for sit: its row's status, content type and
// headers (their values from header), Atlas's server headers if the row has
// them, and an ApiError for an error, its detail and parameters from params,
// enveloped and pretty-printed as doc.go says.
func (s *Server) write(x *exchange, sit behavior.Situation, header http.Header, params ...any) {
	row, h := s.rows[sit], x.Header()
	status := row.Status
	for _, name := range row.Headers {
		if name == behavior.XErrorCode {
			h.Set(name, row.ErrorCode)
		} else if vs := header[name]; len(vs) > 0 {
			h[name] = vs
		}
	}
	if row.ServerHeaders {
		maps.Copy(h, behavior.ServerHeaders())
		took := time.Since(x.start).Milliseconds()
		h.Set("X-Envoy-Upstream-Service-Time", strconv.FormatInt(took, 10))
	}
	h.Set(behavior.ContentType, row.ContentType)
	var body any
	reason, detail := http.StatusText(status), fmt.Sprintf(row.Detail, params...)
	switch {
	case row.ErrorCode == "":
	case row.NoParameters:
		body = plainBody{status, reason, detail, row.ErrorCode}
	default:
		ps := append([]any{}, params...) // [] when none
		body = gen.ApiError{Error: int32(status), ErrorCode: row.ErrorCode, Reason: &reason,
			Detail: &detail, Parameters: &ps}
	}
	if x.envelope && x.who != nil {
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
	newline := func() {
		out = append(out, "\n"+strings.Repeat("  ", bytes.Count(open, []byte{'{'}))...)
	}
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

// Faults scripts an endpoint's failures, applied in arrival order to
// requests whose caller authenticated (and, at the operation, sent valid
// ids and a versioned Accept).
type Faults struct {
	where               string
	statuses            map[int]behavior.Situation // what FailNext may send
	budget              contract.Budget            // of the bucket an injected 429 names
	mu                  sync.Mutex
	failN, dropN        int
	fail                behavior.Situation
	latency, retryAfter time.Duration // retryAfter < 0: the bucket's time to regain a request
}

// operationStatuses maps each error status the spec documents to the
// answer FailNext sends with it: the first row of internal/behavior's table
// with that status that an authenticated caller can get.
func operationStatuses() map[int]behavior.Situation {
	m, documented := map[int]behavior.Situation{}, contract.MustLoad().Op.Responses
	for _, a := range slices.Backward(behavior.Table()) {
		if documented.Value(strconv.Itoa(a.Status)) != nil && a.ErrorCode != "" &&
			a.Situation != behavior.Unauthenticated {
			m[a.Status] = a.Situation
		}
	}
	return m
}

// FailNext answers the next n requests with status, changing nothing, as
// Atlas would: with the first row of internal/behavior's table for it that
// an authenticated caller can get (400 API_KEY_NOT_FOUND, 401 the role
// error USER_UNAUTHORIZED, 403 IP_ADDRESS_NOT_ON_ACCESS_LIST, 404
// ORG_NOT_FOUND, 406, 429 the token bucket's, 500), and at the token and
// revocation endpoints 429 as Atlas's token limit or 500. A 429 shows an
// empty bucket and Retry-After. Any other status panics. n <= 0 cancels;
// a call replaces the previous one. To refuse credentials, send wrong
// ones, or let a token expire (WithClock).
func (f *Faults) FailNext(n, status int) {
	sit, ok := f.statuses[status]
	check(ok, "FailNext(%d, %d): %s answers only %v", n, status, f.where,
		slices.Sorted(maps.Keys(f.statuses)))
	f.locked(func() { f.failN, f.fail = max(0, n), sit })
}

// DropNext makes the next n requests take effect (a key deleted, a token
// issued), then closes the connection unanswered. n <= 0 cancels.
func (f *Faults) DropNext(n int) { f.locked(func() { f.dropN = max(0, n) }) }

// SetLatency delays every request by d from now on; d <= 0 removes the
// delay. A client that gives up meanwhile gets no answer and changes nothing.
func (f *Faults) SetLatency(d time.Duration) { f.locked(func() { f.latency = max(0, d) }) }

// SetRetryAfter sets the Retry-After of injected 429s, in seconds rounded
// up; by default, or for d < 0, the time the endpoint's bucket takes to
// regain a request (1 s at the spec's organization rates, 2 s at its token rates).
func (f *Faults) SetRetryAfter(d time.Duration) { f.locked(func() { f.retryAfter = d }) }

func (f *Faults) locked(set func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set()
}

// apply waits out the latency (a client leaving meanwhile aborts the
// request), then returns what FailNext asked for, with the Retry-After of
// an injected 429 (else -1), or arms a drop.
func (f *Faults) apply(x *exchange, r *http.Request) (fail behavior.Situation, wait time.Duration) {
	var latency time.Duration
	f.locked(func() {
		latency, wait = f.latency, f.retryAfter
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
	switch {
	case fail == "" || f.statuses[http.StatusTooManyRequests] != fail:
		return fail, -1
	case wait < 0: // the bucket's time to regain a request
		return fail, f.budget.Period / time.Duration(f.budget.Refill)
	}
	return fail, wait
}

// FailNext is [Faults.FailNext] at the operation.
func (s *Server) FailNext(n, status int) { s.op.FailNext(n, status) }

// DropNext is [Faults.DropNext] at the operation.
func (s *Server) DropNext(n int) { s.op.DropNext(n) }

// SetLatency is [Faults.SetLatency] at the operation.
func (s *Server) SetLatency(d time.Duration) { s.op.SetLatency(d) }

// SetRetryAfter is [Faults.SetRetryAfter] at the operation.
func (s *Server) SetRetryAfter(d time.Duration) { s.op.SetRetryAfter(d) }

// TokenEndpoint scripts the token endpoint's faults.
func (s *Server) TokenEndpoint() *Faults { return s.token }

// RevokeEndpoint scripts the revocation endpoint's faults: a 429 or 500
// instead of revoking, a revocation whose answer is lost, latency.
func (s *Server) RevokeEndpoint() *Faults { return s.revoke }
