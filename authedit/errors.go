package authedit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// Failures to branch on with errors.Is; *APIError and *TokenError match them.
var (
	ErrUnauthorized      = errors.New("authedit: credentials refused")                                    // 401 for a digest key, or a wrong service-account secret
	ErrForbidden         = errors.New("authedit: not allowed")                                            // 403: not an Organization Owner
	ErrNotFound          = errors.New("authedit: not found")                                              // API_KEY_NOT_FOUND, or a 404 naming nothing else (a wrong base URL)
	ErrOrgNotFound       = errors.New("authedit: no such organization")                                   // ORG_NOT_FOUND; it does not match ErrNotFound
	ErrRateLimited       = errors.New("authedit: rate limited")                                           // 429; RetryAfter says when to try again
	ErrServerError       = errors.New("authedit: server error")                                           // 5xx
	ErrNotServiceAccount = errors.New("authedit: only service-account credentials have tokens to revoke") // from Revoke
	ErrNotAttempted      = errors.New("authedit: not attempted")                                          // RemoveAll: never sent, as ctx ended first (also matches ctx's error)
)

// ParamError is an id or flag the spec does not allow; nothing was sent.
type ParamError = contract.ParamError

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

// IsErrorCode reports whether err holds an *APIError with errorCode code.
func IsErrorCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.ErrorCode == code
}

// APIError is an answer from Atlas that Remove does not take for an Outcome.
type APIError struct {
	StatusCode       int
	ErrorCode        string                // such as "RATE_LIMITED"; empty when the body is no ApiError
	Detail           string                // what went wrong, in words
	Parameters       []any                 // what Detail names, such as an id
	BadRequestDetail *gen.BadRequestDetail // the fields a 400 VALIDATION_ERROR refuses
	Limit, Remaining int                   // RateLimit-Limit and RateLimit-Remaining; 0 when absent
	RetryAfter       time.Duration         // Retry-After (seconds or a date); 0 when absent
	Attempts         int                   // requests sent, retries included
}

func (e *APIError) Error() string {
	s := describe(fmt.Sprintf("authedit: Atlas answered %d %s", e.StatusCode, http.StatusText(e.StatusCode)), e.ErrorCode, e.Detail, e.RetryAfter)
	if e.Attempts > 1 {
		s += fmt.Sprintf("; after %d attempts", e.Attempts)
	}
	return s
}

// describe is s, then what of code, detail and retryAfter is known.
func describe(s, code, detail string, retryAfter time.Duration) string {
	if code != "" {
		s += ": " + code
	}
	if detail != "" {
		s += " (" + detail + ")"
	}
	if retryAfter > 0 {
		s += fmt.Sprintf("; retry after %v", retryAfter)
	}
	return s
}

// Is matches ErrOrgNotFound by ORG_NOT_FOUND, ErrNotFound by API_KEY_NOT_FOUND
// or any other 404, and the other Err* by status: 401, 403, 429, 5xx.
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

// newAPIError reads resp's ApiError, if its body is one, and its rate-limit headers.
func newAPIError(resp *gen.DeleteOrgApiKeyResponse, attempts int) *APIError {
	e := &APIError{} // its fields are named as ApiError's keys; the others are set below
	if json.Unmarshal(resp.Body, e) != nil {
		e = &APIError{}
	}
	e.StatusCode, e.Attempts = resp.StatusCode(), attempts
	h := resp.HTTPResponse.Header
	e.Limit, _ = strconv.Atoi(h.Get(behavior.RateLimitLimit))
	e.Remaining, _ = strconv.Atoi(h.Get(behavior.RateLimitRemaining))
	e.RetryAfter, _ = parseRetryAfter(h)
	return e
}

// BodyTooLargeError reports a body over Limit (1 MiB) bytes, not read further.
type BodyTooLargeError struct {
	StatusCode int
	Limit      int64
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("authedit: the %d answer's body is longer than %d bytes; not read further", e.StatusCode, e.Limit)
}

// cappedBody fails with a *BodyTooLargeError past left bytes, reading one more at most.
type cappedBody struct {
	io.ReadCloser
	status int
	left   int64
}

func (b *cappedBody) Read(p []byte) (n int, err error) {
	if b.left >= 0 {
		n, err = b.ReadCloser.Read(p[:min(int64(len(p)), b.left+1)])
		b.left -= int64(n)
	}
	if b.left < 0 {
		return max(n-1, 0), &BodyTooLargeError{StatusCode: b.status, Limit: contract.MaxBody}
	}
	return n, err
}

// RedirectError reports a redirect, not followed: this operation has none.
type RedirectError struct {
	StatusCode int
	Location   string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("authedit: Atlas answered %d %s to %s; this operation is never redirected, so it was not followed",
		e.StatusCode, http.StatusText(e.StatusCode), e.Location)
}

// refuseRedirect is a CheckRedirect: net/http always sets req.Response.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return &RedirectError{StatusCode: req.Response.StatusCode, Location: req.URL.String()}
}
