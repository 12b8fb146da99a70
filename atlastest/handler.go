package atlastest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// reqInfo travels in the context from the front handler to the operation.
type reqInfo struct {
	principal *principal
	envelope  bool
	pretty    bool
	status    int    // the operation's answer, kept for the request log
	drop      bool   // DropNext: close the connection instead of answering
	authError string // why authentication failed, for the request log: Atlas's 401 does not say
}

type ctxKey struct{}

// answer is what the server says, before envelope and pretty shape it.
type answer struct {
	row    behavior.Answer
	body   *gen.ApiError // nil for a 204
	header http.Header   // values known for the row's headers: rate limits, challenges
}

// atlas is the answer Atlas gives in situation s, from internal/behavior's
// table: its status and errorCode, its detail template filled with params,
// and params as the ApiError's parameters ([] when none, no key at all
// where Atlas sends none).
func atlas(s behavior.Situation, params ...any) answer {
	row, ok := behavior.Lookup(s)
	if !ok { // callers pass the table's own constants: a broken build, not input
		panic(fmt.Sprintf("atlastest: situation %q is not in internal/behavior's table", s))
	}
	a := answer{row: row}
	if row.ErrorCode == "" {
		return a
	}
	reason, detail := http.StatusText(row.Status), fmt.Sprintf(row.Detail, params...)
	a.body = &gen.ApiError{Error: int32(row.Status), ErrorCode: row.ErrorCode, Reason: &reason, Detail: &detail}
	if !row.NoParameters {
		ps := append([]any{}, params...)
		a.body.Parameters = &ps
	}
	return a
}

// invalidParameter is Atlas's VALIDATION_ERROR naming the parameter, with
// the reason in badRequestDetail.
func invalidParameter(in, name, reason string) answer {
	a := atlas(behavior.InvalidParameter, in, name)
	a.body.BadRequestDetail = &gen.BadRequestDetail{Fields: &[]gen.FieldViolation{{Field: name, Description: reason}}}
	return a
}

// noSuchResource answers a path or method this server does not serve.
func noSuchResource(r *http.Request) answer {
	target := r.Method + " " + r.URL.EscapedPath() // ASCII: EscapedPath escapes the rest
	if len(target) > 100 {
		target = target[:100] + "..."
	}
	return atlas(behavior.NoSuchResource, target, contract.MustLoad().Path)
}

// statusWriter remembers the status for the request log and for error
// handlers that must not write twice; Unwrap lets DropNext hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newHandler puts the front handler (request checks and authentication)
// before the generated std-http and strict handlers, which call operation.
func (s *Server) newHandler() http.Handler {
	slashes := strings.Count(contract.MustLoad().Path, "/")
	mux := http.NewServeMux()
	// Unreachable after the front checks; there so that no path ever gets
	// ServeMux's text/plain 404 or redirects.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.write(w, &reqInfo{}, noSuchResource(r))
	})
	strict := gen.NewStrictHandlerWithOptions(operation{s}, nil, gen.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			s.write(w, infoFrom(r.Context()), invalidParameter("request", "request", err.Error()))
		},
		ResponseErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			if sw, ok := w.(*statusWriter); ok && sw.wrote {
				return // the answer is on its way; nothing sensible to add
			}
			s.write(w, infoFrom(r.Context()), atlas(behavior.ServerError))
		},
	})
	api := gen.HandlerWithOptions(strict, gen.StdHTTPServerOptions{
		BaseRouter: mux,
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			field := "request"
			if pe := (*gen.InvalidParamFormatError)(nil); errors.As(err, &pe) {
				field = pe.ParamName
			}
			s.write(w, infoFrom(r.Context()), invalidParameter("path", field, err.Error()))
		},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, api, slashes) })
}

func infoFrom(ctx context.Context) *reqInfo {
	if info, ok := ctx.Value(ctxKey{}).(*reqInfo); ok {
		return info
	}
	return &reqInfo{}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, api http.Handler, slashes int) {
	sw := &statusWriter{ResponseWriter: w}
	info := &reqInfo{}
	entry := Request{Method: r.Method, Path: clip(r.URL.EscapedPath()), Query: clip(r.URL.RawQuery), Auth: authScheme(r)}
	var dropped net.Conn
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler && !sw.wrote {
			s.write(sw, info, atlas(behavior.ServerError))
			p = nil
		}
		entry.Status, entry.Dropped, entry.AuthError = sw.status, info.drop, info.authError
		if info.drop {
			entry.Status = info.status
		}
		s.record(entry) // before the client can see the answer or the lost connection
		if dropped != nil {
			_ = dropped.Close()
		}
		if p != nil {
			panic(http.ErrAbortHandler) // half an answer, or an abort: drop the connection quietly
		}
	}()

	switch r.URL.Path {
	case contract.TokenPath():
		s.serveToken(sw, r)
		return
	case contract.RevokePath():
		s.serveRevoke(sw, r)
		return
	}
	r, ok := s.admit(sw, r, info, slashes)
	if !ok {
		return
	}
	api.ServeHTTP(sw, r)
	if info.drop {
		conn, _, err := http.NewResponseController(sw).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler) // no hijacking (HTTP/2): abort the stream instead
		}
		dropped = conn // closed once the request is logged
	}
}

// admit runs the checks the generated server does not, in doc.go's order:
// the path must fit the template exactly, the method must be DELETE, the
// ids and flags must fit the spec (contract.CheckRequest), the caller must
// authenticate, and Accept must name a resource version.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, info *reqInfo, slashes int) (*http.Request, bool) {
	q := r.URL.Query()
	info.pretty = len(q["pretty"]) == 1 && q["pretty"][0] == "true"
	_, err := contract.CheckRequest(r)
	var pe *contract.ParamError
	errors.As(err, &pe)
	switch {
	case strings.Count(r.URL.EscapedPath(), "/") != slashes || pe != nil && pe.Name == "path":
		s.write(w, info, noSuchResource(r))
	case r.Method != http.MethodDelete:
		// 404, not 405: the spec documents no 405, and every answer must fit it.
		s.write(w, info, noSuchResource(r))
	case pe != nil:
		s.write(w, info, invalidParameter(pe.In, pe.Name, pe.Reason))
	case err != nil:
		s.write(w, info, invalidParameter("query", "query", err.Error()))
	default:
		p, fail := s.authenticate(r)
		if fail != nil {
			info.authError = fail.detail
			s.write(w, info, s.unauthorized(fail))
			return r, false
		}
		info.principal = p
		info.envelope = q.Get("envelope") == "true"
		if !acceptsVersion(r.Header) {
			s.write(w, info, atlas(behavior.InvalidVersion))
			return r, false
		}
		return r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)), true
	}
	return r, false
}

// acceptsVersion: some media range in Accept is
// application/vnd.atlas.YYYY-MM-DD+json (parameters allowed, q=0 refuses)
// with a real date on or after the spec's resource version. Atlas refuses a
// missing or unversioned Accept (reported) and serves later dates (recorded).
func acceptsVersion(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for _, mediaRange := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(mediaRange)
			date, versioned := strings.CutPrefix(mt, "application/vnd.atlas.")
			date, plusJSON := strings.CutSuffix(date, "+json")
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

// unauthorized is Atlas's 401 with the challenges f asks for.
func (s *Server) unauthorized(f *authFailure) answer {
	a := atlas(behavior.Unauthenticated)
	a.header = http.Header{}
	if f.digest {
		a.header[behavior.WWWAuthenticate] = s.digestChallenges(f.stale)
	}
	if f.bearer {
		c := fmt.Sprintf("Bearer realm=%q", Realm)
		if f.bearerError {
			c += fmt.Sprintf(", error=\"invalid_token\", error_description=%q", f.detail)
		}
		a.header.Add(behavior.WWWAuthenticate, c)
	}
	return a
}

func authScheme(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "none"
	}
	scheme, _, _ := strings.Cut(h, " ")
	switch scheme = strings.ToLower(scheme); scheme {
	case "digest", "bearer", "basic":
		return scheme
	}
	return "other"
}

// operation implements the generated strict server interface; the front
// handler has authenticated the caller and put a reqInfo in the context.
type operation struct{ s *Server }

var _ gen.StrictServerInterface = operation{}

func (op operation) DeleteOrgApiKey(ctx context.Context, req gen.DeleteOrgApiKeyRequestObject) (gen.DeleteOrgApiKeyResponseObject, error) {
	info := infoFrom(ctx)
	if info.principal == nil {
		return nil, errors.New("the operation was reached without authentication")
	}
	a := op.s.deleteOrgAPIKey(ctx, info, req)
	info.status = a.row.Status
	if info.drop {
		return nil, nil // the front handler closes the connection: the answer is lost
	}
	return op.s.respond(info, a), nil
}

// deleteOrgAPIKey is the operation proper, after authentication: faults,
// organization, role, rate limit, key. The role comes before the bucket so
// that only authorized requests spend it: nobody else can turn an
// organization's owner away with 429s.
func (s *Server) deleteOrgAPIKey(ctx context.Context, info *reqInfo, req gen.DeleteOrgApiKeyRequestObject) answer {
	latency, fail, drop, retryAfter := s.faults.take()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			panic(http.ErrAbortHandler) // the client left: no answer, no state change
		}
	}
	o := s.orgs[req.OrgId]
	now := s.cfg.now()
	if fail != 0 {
		return s.injected(fail, o, req, now, retryAfter)
	}
	info.drop = drop
	if o == nil {
		a := atlas(behavior.OrgNotFound, req.OrgId)
		a.header = s.bucket(nil, now, false)
		return a
	}
	if info.principal.org != o || !info.principal.owner {
		a := atlas(behavior.NotOwner, req.OrgId)
		a.header = s.bucket(o, now, false)
		return a
	}
	limits := s.bucket(o, now, true)
	var a answer
	switch {
	case limits.Get(behavior.RetryAfter) != "":
		a = atlas(behavior.RateLimited)
	case !s.deleteKey(o, req.ApiUserId):
		a = atlas(behavior.KeyNotFound, req.ApiUserId)
	default:
		a = atlas(behavior.Removed)
	}
	a.header = limits
	return a
}

// bucket reads an organization's rate-limit bucket as headers, spending one
// request when spend is set; Retry-After is set when the bucket had none to
// spend. An unknown organization (o nil) reads as a full bucket.
func (s *Server) bucket(o *org, now time.Time, spend bool) http.Header {
	h := http.Header{}
	h.Set(behavior.RateLimitLimit, strconv.Itoa(s.cfg.capacity))
	if o == nil {
		h.Set(behavior.RateLimitRemaining, strconv.Itoa(s.cfg.capacity))
		return h
	}
	if spend {
		r := o.limiter.ReserveN(now, 1)
		if delay := r.DelayFrom(now); delay > 0 {
			r.CancelAt(now)
			h.Set(behavior.RetryAfter, strconv.Itoa(int(math.Ceil(delay.Seconds()))))
		}
	}
	h.Set(behavior.RateLimitRemaining, strconv.Itoa(max(0, int(o.limiter.TokensAt(now)))))
	return h
}

// injected is the answer FailNext asked for: the first row of the behavior
// table with that status, naming the request's ids where its detail does.
func (s *Server) injected(status int, o *org, req gen.DeleteOrgApiKeyRequestObject, now time.Time, retryAfter time.Duration) answer {
	sit, _ := situationFor(status) // FailNext accepted only statuses the table has
	var params []any
	switch sit {
	case behavior.KeyNotFound:
		params = []any{req.ApiUserId}
	case behavior.NotOwner, behavior.OrgNotFound:
		params = []any{req.OrgId}
	}
	a := atlas(sit, params...)
	switch sit {
	case behavior.Unauthenticated:
		a = s.unauthorized(s.refuse("Injected by FailNext.", false, false))
	case behavior.RateLimited:
		a.header = http.Header{}
		a.header.Set(behavior.RateLimitLimit, strconv.Itoa(s.cfg.capacity))
		a.header.Set(behavior.RateLimitRemaining, "0")
		if retryAfter < 0 {
			retryAfter = s.cfg.per / time.Duration(s.cfg.refill)
		}
		a.header.Set(behavior.RetryAfter, strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	default:
		a.header = s.bucket(o, now, false)
	}
	return a
}

// situationFor is the first situation in the behavior table answered with
// an error status: what FailNext(n, status) sends.
func situationFor(status int) (behavior.Situation, bool) {
	for _, a := range behavior.Table() {
		if a.Status == status && a.ErrorCode != "" {
			return a.Situation, true
		}
	}
	return "", false
}

// respond turns an answer into the generated response type for its status,
// with the headers its table row names, or into the 200 ApiEnvelope when
// envelope=true (401 challenges excepted: clients answer them by status).
func (s *Server) respond(info *reqInfo, a answer) gen.DeleteOrgApiKeyResponseObject {
	row := a.row
	out := shaped{header: http.Header{}, contentType: row.ContentType, pretty: info.pretty || row.Pretty}
	for _, name := range row.Headers {
		if name == behavior.XErrorCode {
			out.header.Set(name, row.ErrorCode)
		} else if vs := a.header.Values(name); len(vs) > 0 {
			out.header[name] = vs
		}
	}
	var body gen.ApiError
	if a.body != nil {
		body = *a.body
	}
	switch status := row.Status; {
	case info.envelope && status != http.StatusUnauthorized:
		env := gen.DeleteOrgApiKey200JSONResponse{Status: int32(status)}
		if a.body != nil {
			var content map[string]any
			b, _ := json.Marshal(a.body) // plain structs of strings and ints: cannot fail
			_ = json.Unmarshal(b, &content)
			env.Content = &content
		}
		envelope, _ := behavior.Lookup(behavior.Enveloped)
		out.inner, out.contentType = env, envelope.ContentType
	case status == http.StatusNoContent:
		out.inner = gen.DeleteOrgApiKey204Response{}
	case status == http.StatusBadRequest:
		out.inner = gen.DeleteOrgApiKey400JSONResponse{BadRequestJSONResponse: gen.BadRequestJSONResponse{Body: body}}
	case status == http.StatusUnauthorized:
		out.inner = unauthorizedBody{Error: body.Error, Reason: *body.Reason, Detail: *body.Detail, ErrorCode: body.ErrorCode}
	case status == http.StatusForbidden:
		out.inner = gen.DeleteOrgApiKey403JSONResponse{ForbiddenJSONResponse: gen.ForbiddenJSONResponse{Body: body}}
	case status == http.StatusNotFound:
		out.inner = gen.DeleteOrgApiKey404JSONResponse{NotFoundJSONResponse: gen.NotFoundJSONResponse{Body: body}}
	case status == http.StatusNotAcceptable:
		out.inner = gen.DeleteOrgApiKey406JSONResponse{NotAcceptableJSONResponse: gen.NotAcceptableJSONResponse{Body: body}}
	case status == http.StatusTooManyRequests:
		out.inner = gen.DeleteOrgApiKey429JSONResponse{TooManyRequestsJSONResponse: gen.TooManyRequestsJSONResponse{Body: body}}
	case status == http.StatusInternalServerError:
		out.inner = gen.DeleteOrgApiKey500JSONResponse{InternalServerErrorJSONResponse: gen.InternalServerErrorJSONResponse{Body: body}}
	default: // a status added to the table but not here; TestFailNextEveryDocumentedStatus names it
		return s.respond(info, atlas(behavior.ServerError))
	}
	return out
}

// unauthorizedBody is Atlas's 401 body, its keys in Atlas's order
// (recorded): the generated type would sort them and add none.
type unauthorizedBody struct {
	Error     int32  `json:"error"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail"`
	ErrorCode string `json:"errorCode"`
}

func (b unauthorizedBody) VisitDeleteOrgApiKeyResponse(w http.ResponseWriter) error {
	body, _ := json.Marshal(b) // strings and an int: cannot fail
	w.Header().Set(behavior.ContentType, "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, err := w.Write(body)
	return err
}

// write sends an answer outside the strict handler (checks, 401s, errors)
// through the same generated response types.
func (s *Server) write(w http.ResponseWriter, info *reqInfo, a answer) {
	_ = s.respond(info, a).VisitDeleteOrgApiKeyResponse(w) // a write error means the client is gone
}

// shaped adds what the generated types do not carry (the table's headers,
// several WWW-Authenticate values, the 204's content type) and prints the
// body as Atlas does: compact, or in its pretty style.
type shaped struct {
	inner       gen.DeleteOrgApiKeyResponseObject
	header      http.Header
	contentType string
	pretty      bool
}

func (r shaped) VisitDeleteOrgApiKeyResponse(w http.ResponseWriter) error {
	for k, vs := range r.header {
		w.Header()[k] = vs
	}
	w.Header().Set(behavior.ContentType, r.contentType)
	buf := &bufferWriter{header: w.Header(), status: http.StatusOK}
	if err := r.inner.VisitDeleteOrgApiKeyResponse(buf); err != nil {
		return err
	}
	body := bytes.TrimSuffix(buf.body.Bytes(), []byte("\n")) // the encoder's; Atlas ends with the brace
	if r.pretty {
		body = jackson(body)
	}
	w.WriteHeader(buf.status)
	if len(body) == 0 {
		return nil
	}
	_, err := w.Write(body)
	return err
}

type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.header }
func (b *bufferWriter) WriteHeader(code int)        { b.status = code }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// jackson re-prints compact JSON as Atlas pretty-prints it (Jackson's
// default printer, recorded on the 401): objects one "key" : value a line,
// indented two spaces a level; arrays on one line as [ a, b ]; empty
// containers as { } and [ ].
func jackson(compact []byte) []byte {
	var out bytes.Buffer
	var open []byte // the containers open at this point, '{' or '['
	objects := 0    // open objects: only they indent
	inString, escaped := false, false
	newline := func() {
		out.WriteByte('\n')
		out.WriteString(strings.Repeat("  ", objects))
	}
	for i := 0; i < len(compact); i++ {
		c := compact[i]
		if inString {
			out.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			out.WriteByte(c)
		case '{', '[':
			if i+1 < len(compact) && (compact[i+1] == '}' || compact[i+1] == ']') {
				out.Write([]byte{c, ' ', compact[i+1]})
				i++
				continue
			}
			open = append(open, c)
			out.WriteByte(c)
			if c == '{' {
				objects++
				newline()
			} else {
				out.WriteByte(' ')
			}
		case '}', ']':
			open = open[:len(open)-1]
			if c == '}' {
				objects--
				newline()
			} else {
				out.WriteByte(' ')
			}
			out.WriteByte(c)
		case ':':
			out.WriteString(" : ")
		case ',':
			out.WriteByte(',')
			if open[len(open)-1] == '{' {
				newline()
			} else {
				out.WriteByte(' ')
			}
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}
