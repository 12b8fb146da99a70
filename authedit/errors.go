package authedit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// The classes of failure a caller branches on, for errors.Is. *APIError
// (Atlas's answer) and *TokenError (the token or revocation endpoint's)
// match them by themselves; no wrapping to know about.
var (
	// ErrUnauthorized: the credentials were refused, whichever kind they
	// are: a 401 from Atlas (a wrong digest key) or from the token
	// endpoint, or its RFC 6749 invalid_client (a wrong service-account
	// secret).
	ErrUnauthorized = errors.New("authedit: credentials refused")
	// ErrForbidden: authenticated, but not allowed (403), such as a caller
	// who is not an Organization Owner.
	ErrForbidden = errors.New("authedit: not allowed")
	// ErrNotFound: Atlas's API_KEY_NOT_FOUND (as 400 or 404), or a 404
	// naming nothing else, such as a proxy's page or a base URL with a
	// wrong path prefix. Remove reports a missing key as an Outcome, not
	// an error, so from Remove it means the latter.
	ErrNotFound = errors.New("authedit: not found")
	// ErrOrgNotFound: no such organization (ORG_NOT_FOUND). It does not
	// match ErrNotFound: it says nothing about the key.
	ErrOrgNotFound = errors.New("authedit: no such organization")
	// ErrRateLimited: 429; APIError.RetryAfter says when to try again.
	ErrRateLimited = errors.New("authedit: rate limited")
	// ErrServerError: a 5xx.
	ErrServerError = errors.New("authedit: server error")
)

// statusIs reports whether status falls in the class of target.
func statusIs(target error, status int) bool {
	switch target {
	case ErrUnauthorized:
		return status == http.StatusUnauthorized
	case ErrForbidden:
		return status == http.StatusForbidden
	case ErrRateLimited:
		return status == http.StatusTooManyRequests
	case ErrServerError:
		return status >= 500
	}
	return false
}

// IsErrorCode reports whether err is or wraps an *APIError with Atlas's
// errorCode code, like the official SDK's admin.IsErrorCode:
// IsErrorCode(err, "ORG_NOT_FOUND").
func IsErrorCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.ErrorCode == code
}

// APIError is an answer from Atlas that Remove does not take for an
// outcome: its status, what its ApiError body says, and its rate-limit
// headers. Like TokenError it holds no request or response, so printing
// it leaks nothing.
type APIError struct {
	StatusCode       int
	ErrorCode        string                // ApiError.errorCode, e.g. "RATE_LIMITED"; empty when the body is no ApiError
	Detail           string                // ApiError.detail
	Parameters       []any                 // ApiError.parameters: what the detail names, such as an id
	BadRequestDetail *gen.BadRequestDetail // the fields a 400 VALIDATION_ERROR refuses, and why

	// RateLimit-Limit and RateLimit-Remaining, 0 when absent or not
	// integers, and Retry-After (seconds or an HTTP-date), 0 when absent.
	Limit, Remaining int
	RetryAfter       time.Duration

	Attempts int // requests sent, retries included
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "authedit: Atlas answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, ": %s", e.ErrorCode)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %v", e.RetryAfter)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "; after %d attempts", e.Attempts)
	}
	return b.String()
}

// Is matches the error classes above: by errorCode where Atlas's code
// says more than the status (internal/behavior's table), else by status.
func (e *APIError) Is(target error) bool {
	orgNotFound := e.ErrorCode == errorCode(behavior.OrgNotFound)
	switch target {
	case ErrOrgNotFound:
		return orgNotFound
	case ErrNotFound:
		return e.ErrorCode == errorCode(behavior.KeyNotFound) || e.StatusCode == http.StatusNotFound && !orgNotFound
	}
	return statusIs(target, e.StatusCode)
}

// errorCode is the errorCode Atlas sends in situation s.
func errorCode(s behavior.Situation) string {
	a, _ := behavior.Lookup(s)
	return a.ErrorCode
}

// newAPIError reads resp's ApiError, if its body is one, and its
// rate-limit headers as received.
func newAPIError(resp *gen.DeleteOrgApiKeyResponse, attempts int) *APIError {
	e := &APIError{StatusCode: resp.StatusCode(), Attempts: attempts}
	var body gen.ApiError
	if json.Unmarshal(resp.Body, &body) == nil {
		e.ErrorCode, e.BadRequestDetail = body.ErrorCode, body.BadRequestDetail
		if body.Detail != nil {
			e.Detail = *body.Detail
		}
		if body.Parameters != nil {
			e.Parameters = *body.Parameters
		}
	}
	if h := resp.HTTPResponse; h != nil {
		e.Limit, _ = strconv.Atoi(h.Header.Get(behavior.RateLimitLimit))
		e.Remaining, _ = strconv.Atoi(h.Header.Get(behavior.RateLimitRemaining))
		e.RetryAfter, _ = parseRetryAfter(h.Header)
	}
	return e
}

// BodyTooLargeError reports an answer whose body is longer than Limit
// bytes (internal/contract.MaxBody, 1 MiB: an ApiError is a few hundred
// bytes); the client reads no further. Every body read through a
// Transport is capped so: a broken server or proxy streaming without end
// cannot make the client allocate without bound.
type BodyTooLargeError struct {
	StatusCode int
	Limit      int64
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("authedit: the %d answer's body is longer than %d bytes; not read further", e.StatusCode, e.Limit)
}

// cappedBody ends a body with a *BodyTooLargeError after contract.MaxBody
// bytes; it never asks the body under it for more than one byte beyond.
type cappedBody struct {
	rc     io.ReadCloser
	status int
	left   int64
}

func newCappedBody(resp *http.Response) *cappedBody {
	return &cappedBody{rc: resp.Body, status: resp.StatusCode, left: contract.MaxBody}
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &BodyTooLargeError{StatusCode: b.status, Limit: contract.MaxBody}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), -1
		return n, &BodyTooLargeError{StatusCode: b.status, Limit: contract.MaxBody}
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// RedirectError reports a redirect. Atlas never redirects this operation,
// so a Client follows none, to its own origin or another: a redirect is a
// misconfigured base URL or something in between, and following it would
// carry the request (and, to the same origin, its credentials) somewhere
// the spec does not describe.
type RedirectError struct {
	StatusCode int
	Location   string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("authedit: Atlas answered %d %s to %s; this operation is never redirected, so it was not followed",
		e.StatusCode, http.StatusText(e.StatusCode), e.Location)
}

// refuseRedirect is the Client's http.Client CheckRedirect.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	e := &RedirectError{Location: req.URL.String()}
	if req.Response != nil {
		e.StatusCode = req.Response.StatusCode
	}
	return e
}
