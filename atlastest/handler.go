package atlastest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// reqInfo travels in the context from the front handler to the operation.
type reqInfo struct {
	principal *principal
	envelope  bool
	pretty    bool
	status    int  // the operation's answer, kept for the request log
	drop      bool // DropNext: close the connection instead of answering
}

type ctxKey struct{}

// answer is what the operation says before envelope and pretty shape it.
type answer struct {
	status int
	body   *gen.ApiError // nil only for 204
	header http.Header   // rate-limit headers, challenges
}

// errorCodes are the ApiError codes this server uses for each status.
var errorCodes = map[int]string{
	http.StatusBadRequest:          "VALIDATION_ERROR",
	http.StatusUnauthorized:        "UNAUTHORIZED",
	http.StatusForbidden:           "USER_UNAUTHORIZED",
	http.StatusNotFound:            "RESOURCE_NOT_FOUND",
	http.StatusTooManyRequests:     "RATE_LIMITED",
	http.StatusInternalServerError: "UNEXPECTED_ERROR",
}

func apiError(status int, code, detail string) *gen.ApiError {
	reason := http.StatusText(status)
	return &gen.ApiError{Error: int32(status), ErrorCode: code, Reason: &reason, Detail: &detail}
}

func failure(status int, detail string) answer {
	return answer{status: status, body: apiError(status, errorCodes[status], detail)}
}

func badRequest(field, detail, description string) answer {
	a := failure(http.StatusBadRequest, detail)
	a.body.BadRequestDetail = &gen.BadRequestDetail{Fields: &[]gen.FieldViolation{{Field: field, Description: description}}}
	return a
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
		s.write(w, &reqInfo{}, failure(http.StatusNotFound, "No resource at this path."))
	})
	strict := gen.NewStrictHandlerWithOptions(operation{s}, nil, gen.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			s.write(w, infoFrom(r.Context()), badRequest("request", err.Error(), err.Error()))
		},
		ResponseErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			if sw, ok := w.(*statusWriter); ok && sw.wrote {
				return // the answer is on its way; nothing sensible to add
			}
			s.write(w, infoFrom(r.Context()), failure(http.StatusInternalServerError, "The reference server failed: "+err.Error()))
		},
	})
	api := gen.HandlerWithOptions(strict, gen.StdHTTPServerOptions{
		BaseRouter: mux,
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			field := "request"
			if pe := (*gen.InvalidParamFormatError)(nil); errors.As(err, &pe) {
				field = pe.ParamName
			}
			s.write(w, infoFrom(r.Context()), badRequest(field, err.Error(), err.Error()))
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
			s.write(sw, info, failure(http.StatusInternalServerError, fmt.Sprintf("The reference server failed: %v", p)))
			p = nil
		}
		entry.Status, entry.Dropped = sw.status, info.drop
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

// admit runs the checks the generated server does not: the path must fit
// the template exactly, the method must be DELETE, the ids and flags must
// fit the spec (contract.CheckRequest), and the caller must authenticate.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, info *reqInfo, slashes int) (*http.Request, bool) {
	q := r.URL.Query()
	info.pretty = len(q["pretty"]) == 1 && q["pretty"][0] == "true"
	_, err := contract.CheckRequest(r)
	var pe *contract.ParamError
	errors.As(err, &pe)
	switch {
	case strings.Count(r.URL.EscapedPath(), "/") != slashes || pe != nil && pe.Name == "path":
		s.write(w, info, failure(http.StatusNotFound, fmt.Sprintf("No resource at %.80q: this server serves DELETE %s.", r.URL.EscapedPath(), contract.MustLoad().Path)))
	case r.Method != http.MethodDelete:
		// 404, not 405: the spec documents no 405, and every answer must fit it.
		s.write(w, info, failure(http.StatusNotFound, fmt.Sprintf("Method %.20q is not served here; this resource answers DELETE only.", r.Method)))
	case pe != nil:
		s.write(w, info, badRequest(pe.Name, pe.Error(), pe.Reason))
	case err != nil:
		s.write(w, info, badRequest("request", err.Error(), err.Error()))
	default:
		p, fail := s.authenticate(r)
		if fail != nil {
			s.write(w, info, s.unauthorized(fail))
			return r, false
		}
		info.principal = p
		info.envelope = q.Get("envelope") == "true"
		return r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)), true
	}
	return r, false
}

func (s *Server) unauthorized(f *authFailure) answer {
	a := failure(http.StatusUnauthorized, f.detail)
	a.header = http.Header{}
	if f.digest {
		a.header["Www-Authenticate"] = s.digestChallenges(f.stale)
	}
	if f.bearer {
		c := fmt.Sprintf("Bearer realm=%q", Realm)
		if f.bearerError {
			c += fmt.Sprintf(", error=\"invalid_token\", error_description=%q", f.detail)
		}
		a.header.Add("WWW-Authenticate", c)
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
	info.status = a.status
	if info.drop {
		return nil, nil // the front handler closes the connection: the answer is lost
	}
	return op.s.respond(info, a), nil
}

// deleteOrgAPIKey is the operation proper, after authentication: faults,
// organization, rate limit, role, key.
func (s *Server) deleteOrgAPIKey(ctx context.Context, info *reqInfo, req gen.DeleteOrgApiKeyRequestObject) answer {
	latency, fail, drop := s.faults.take()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			panic(http.ErrAbortHandler) // the client left: no answer, no state change
		}
	}
	oid, _ := parseID(req.OrgId) // admit checked both ids against the spec
	kid, _ := parseID(req.ApiUserId)
	o := s.orgs[oid]
	if fail != 0 {
		return s.injected(fail)
	}
	info.drop = drop
	if o == nil {
		a := failure(http.StatusNotFound, fmt.Sprintf("No organization with ID %s exists.", req.OrgId))
		a.body.ErrorCode = "ORG_NOT_FOUND"
		return a
	}
	header, ok := take(o.limiter, time.Now())
	var a answer
	switch {
	case !ok:
		a = failure(http.StatusTooManyRequests, "Resource has been rate limited. Retry after the delay in Retry-After.")
	case info.principal.org != o || !info.principal.owner:
		a = failure(http.StatusForbidden, fmt.Sprintf("The caller does not have the Organization Owner role on organization %s.", req.OrgId))
	case !s.deleteKey(o, kid):
		a = failure(http.StatusNotFound, fmt.Sprintf("Cannot find resource API key %s.", req.ApiUserId))
	default:
		a = answer{status: http.StatusNoContent}
	}
	a.header = header
	return a
}

// take spends one token of an organization's bucket and returns the
// rate-limit headers; ok is false, with Retry-After set, when it is empty.
func take(lim *rate.Limiter, now time.Time) (h http.Header, ok bool) {
	r := lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	h = http.Header{}
	h.Set("RateLimit-Limit", strconv.Itoa(lim.Burst()))
	if delay > 0 {
		r.CancelAt(now)
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
	}
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, int(lim.TokensAt(now)))))
	return h, delay <= 0
}

// injected is the answer FailNext asked for.
func (s *Server) injected(status int) answer {
	a := failure(status, fmt.Sprintf("Injected by FailNext: %d %s.", status, http.StatusText(status)))
	switch status {
	case http.StatusUnauthorized:
		a = s.unauthorized(&authFailure{detail: *a.body.Detail, digest: true, bearer: true})
	case http.StatusTooManyRequests:
		a.header = http.Header{}
		a.header.Set("RateLimit-Limit", strconv.Itoa(s.cfg.capacity))
		a.header.Set("RateLimit-Remaining", "0")
		a.header.Set("Retry-After", strconv.Itoa(int(math.Ceil((s.cfg.per / time.Duration(s.cfg.refill)).Seconds()))))
	}
	return a
}

// respond turns an answer into the generated response type for its status,
// or into the 200 ApiEnvelope when envelope=true (401 challenges excepted:
// clients answer them by status).
func (s *Server) respond(info *reqInfo, a answer) gen.DeleteOrgApiKeyResponseObject {
	var r gen.DeleteOrgApiKeyResponseObject
	switch {
	case info.envelope && a.status != http.StatusUnauthorized:
		env := gen.DeleteOrgApiKey200JSONResponse{Status: int32(a.status)}
		if a.body != nil {
			var content map[string]any
			b, _ := json.Marshal(a.body) // plain structs of strings and ints: cannot fail
			_ = json.Unmarshal(b, &content)
			env.Content = &content
		}
		r = env
	case a.status == http.StatusNoContent:
		r = gen.DeleteOrgApiKey204Response{}
	case a.status == http.StatusBadRequest:
		r = gen.DeleteOrgApiKey400JSONResponse{BadRequestJSONResponse: gen.BadRequestJSONResponse{Body: *a.body}}
	case a.status == http.StatusUnauthorized:
		r = gen.DeleteOrgApiKey401JSONResponse{UnauthorizedJSONResponse: gen.UnauthorizedJSONResponse{Body: *a.body}}
	case a.status == http.StatusForbidden:
		r = gen.DeleteOrgApiKey403JSONResponse{ForbiddenJSONResponse: gen.ForbiddenJSONResponse{Body: *a.body}}
	case a.status == http.StatusNotFound:
		r = gen.DeleteOrgApiKey404JSONResponse{NotFoundJSONResponse: gen.NotFoundJSONResponse{Body: *a.body}}
	case a.status == http.StatusTooManyRequests:
		r = gen.DeleteOrgApiKey429JSONResponse{TooManyRequestsJSONResponse: gen.TooManyRequestsJSONResponse{Body: *a.body}}
	default:
		r = gen.DeleteOrgApiKey500JSONResponse{InternalServerErrorJSONResponse: gen.InternalServerErrorJSONResponse{Body: *a.body}}
	}
	return shaped{inner: r, header: a.header, pretty: info.pretty}
}

// write sends an answer outside the strict handler (checks, 401s, errors)
// through the same generated response types.
func (s *Server) write(w http.ResponseWriter, info *reqInfo, a answer) {
	_ = s.respond(info, a).VisitDeleteOrgApiKeyResponse(w) // a write error means the client is gone
}

// shaped adds headers the generated types do not carry (several
// WWW-Authenticate values, rate limits on any status) and indents the body
// for pretty=true.
type shaped struct {
	inner  gen.DeleteOrgApiKeyResponseObject
	header http.Header
	pretty bool
}

func (r shaped) VisitDeleteOrgApiKeyResponse(w http.ResponseWriter) error {
	for k, vs := range r.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if !r.pretty {
		return r.inner.VisitDeleteOrgApiKeyResponse(w)
	}
	buf := &bufferWriter{header: w.Header(), status: http.StatusOK}
	if err := r.inner.VisitDeleteOrgApiKeyResponse(buf); err != nil {
		return err
	}
	body := buf.body.Bytes()
	var out bytes.Buffer
	if len(body) > 0 && json.Indent(&out, body, "", "  ") == nil {
		body = out.Bytes()
	}
	w.WriteHeader(buf.status)
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
