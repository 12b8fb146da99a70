package authedit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// ErrOrgNotFound matches an *APIError for an organization that does not
// exist (ORG_NOT_FOUND): errors.Is(err, ErrOrgNotFound).
var ErrOrgNotFound = errors.New("authedit: no such organization")

// APIError is an answer from Atlas that Remove does not take for an
// outcome: its status, the ApiError body's code and detail, and the
// Retry-After the server asked for (0 when absent). Like TokenError it
// holds no request or response, so printing it leaks nothing.
type APIError struct {
	StatusCode int
	ErrorCode  string // ApiError.errorCode, e.g. "RATE_LIMITED"; empty when the body is no ApiError
	Detail     string // ApiError.detail
	RetryAfter time.Duration
	Attempts   int // requests sent, retries included
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

// Is makes errors.Is match the error classes above by errorCode.
func (e *APIError) Is(target error) bool {
	return target == ErrOrgNotFound && e.ErrorCode == errorCode(behavior.OrgNotFound)
}

// errorCode is the errorCode Atlas sends in situation s.
func errorCode(s behavior.Situation) string {
	a, _ := behavior.Lookup(s)
	return a.ErrorCode
}

// newAPIError reads resp's ApiError, if its body is one, and its
// Retry-After (seconds or an HTTP-date) from the headers as received.
func newAPIError(resp *gen.DeleteOrgApiKeyResponse, attempts int) *APIError {
	e := &APIError{StatusCode: resp.StatusCode(), Attempts: attempts}
	var body gen.ApiError
	if json.Unmarshal(resp.Body, &body) == nil {
		e.ErrorCode = body.ErrorCode
		if body.Detail != nil {
			e.Detail = *body.Detail
		}
	}
	if h := resp.HTTPResponse; h != nil {
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
