package deleteorgapikey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// Atlas's errorCodes that the client acts on. A test holds each equal to
// the behaviour table.
const (
	codeKeyNotFound  = "API_KEY_NOT_FOUND"
	codeOrgNotFound  = "ORG_NOT_FOUND"
	codeTokenBucket  = "RATE_LIMITED_TOKEN_BUCKET"
	codeIPNotAllowed = "IP_ADDRESS_NOT_ON_ACCESS_LIST"
)

// The classes of failure a caller branches on with errors.Is.
// An *APIError matches the class of Atlas's answer, and a failed token
// request matches the class of the token endpoint's answer. The message of
// an error in a class starts with the class's text, such as
// "credentials refused: ".
var (
	// ErrUnauthorized means that Atlas refused the credentials. A wrong API
	// key and a wrong service-account secret both match it.
	ErrUnauthorized = errors.New("credentials refused")
	// ErrForbidden means that the credentials are good, but their principal
	// may not remove the key. It is not an Organization Owner (Atlas's 401
	// role errors), or its IP address is not on its access list (403).
	ErrForbidden = errors.New("not allowed")
	// ErrOrgNotFound means that Atlas knows no such organization (404
	// ORG_NOT_FOUND).
	ErrOrgNotFound = errors.New("no such organization")
	// ErrRateLimited means that Atlas answered 429. The *APIError or
	// *authedit.TokenError says when to try again, in RetryAfter.
	ErrRateLimited = errors.New("rate limited")
	// ErrServerError means that Atlas failed (5xx). The key may or may not
	// be gone.
	ErrServerError = errors.New("server error")
	// ErrNotAttempted means that RemoveAll never sent the key. The error
	// also matches why: the context's error, or the answer that stopped
	// the run.
	ErrNotAttempted = errors.New("not attempted")
)

// IsErrorCode reports whether err holds an *APIError with errorCode code,
// as the official Atlas SDK's admin.IsErrorCode does.
func IsErrorCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.ErrorCode == code
}

// APIError is an answer of Atlas's that Remove does not take for an Outcome.
// Its fields are Atlas's ApiError and the answer's rate-limit headers.
type APIError struct {
	StatusCode int
	ErrorCode  string // such as "ORG_NOT_FOUND"; empty when the body is no ApiError
	Detail     string // what went wrong, in words
	Parameters []any  // what Detail names, such as an id
	// BadRequestDetail lists the fields a 400 VALIDATION_ERROR refuses.
	BadRequestDetail *gen.BadRequestDetail
	// Limit and Remaining are RateLimit-Limit and RateLimit-Remaining, 0
	// when absent.
	Limit, Remaining int
	// RetryAfter is when to try again: the Retry-After header (seconds or a
	// date), or else the seconds a RATE_LIMITED_TOKEN_BUCKET names.
	RetryAfter time.Duration
	Attempts   int // the requests sent, retries included
}

// Is matches ErrOrgNotFound by errorCode ORG_NOT_FOUND, ErrForbidden by a
// 403 or a role error (authedit.IsRoleError), ErrUnauthorized by any other
// 401, ErrRateLimited by 429 and ErrServerError by 5xx.
func (e *APIError) Is(target error) bool { return e.class() == target }

func (e *APIError) class() error {
	switch {
	case e.ErrorCode == codeOrgNotFound:
		return ErrOrgNotFound
	case e.StatusCode == http.StatusForbidden || authedit.IsRoleError(e.ErrorCode):
		return ErrForbidden
	case e.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.StatusCode == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.StatusCode >= 500:
		return ErrServerError
	}
	return nil
}

// Error starts with the class in words, then says what Atlas answered.
func (e *APIError) Error() string {
	class := "unexpected answer"
	if c := e.class(); c != nil {
		class = c.Error()
	} else if e.StatusCode/100 == 4 {
		class = "request refused"
	}
	s := fmt.Sprintf("%s: Atlas answered %d %s", class, e.StatusCode, http.StatusText(e.StatusCode))
	if e.ErrorCode != "" {
		s += ": " + e.ErrorCode
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	switch ip, _ := e.param(0).(string); {
	case e.ErrorCode == codeIPNotAllowed && ip != "":
		s += fmt.Sprintf("; add %.64s to the access list of the API key or service account", ip)
	case e.ErrorCode == codeIPNotAllowed:
		s += "; add this machine's IP address to the access list of the API key or service account"
	case authedit.IsRoleError(e.ErrorCode):
		s += "; removing an organization API key takes the Organization Owner role"
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %v", e.RetryAfter.Round(time.Millisecond))
	}
	if e.Attempts > 1 {
		s += fmt.Sprintf("; after %d attempts", e.Attempts)
	}
	return s
}

// param returns Parameters[i], or nil.
func (e *APIError) param(i int) any {
	if i < len(e.Parameters) {
		return e.Parameters[i]
	}
	return nil
}

// newAPIError reads res's rate-limit headers and, if body is one, Atlas's ApiError.
func newAPIError(res *http.Response, body []byte) *APIError {
	e := &APIError{} // its fields are named as ApiError's keys; the others are set below
	if json.Unmarshal(body, e) != nil {
		e = &APIError{}
	}
	e.StatusCode = res.StatusCode
	e.Limit, _ = strconv.Atoi(res.Header.Get("Ratelimit-Limit"))
	e.Remaining, _ = strconv.Atoi(res.Header.Get("Ratelimit-Remaining"))
	e.RetryAfter = retryAfter(res.Header)
	// RATE_LIMITED_TOKEN_BUCKET's parameters are the path, the seconds to
	// wait, the capacity, and the refill rate per period (Atlas's docs).
	if secs, ok := e.param(1).(float64); e.RetryAfter == 0 && e.ErrorCode == codeTokenBucket &&
		ok && secs > 0 && secs < 1<<32 {
		e.RetryAfter = time.Duration(secs * float64(time.Second))
	}
	return e
}

// classify puts a failed token request in its class: a refused client
// secret is ErrUnauthorized, as a refused API key is.
func classify(err error) error {
	var te *authedit.TokenError
	if !errors.As(err, &te) {
		return err
	}
	var class error
	switch {
	case te.StatusCode == http.StatusUnauthorized || te.ErrorCode == "invalid_client":
		class = ErrUnauthorized
	case te.StatusCode == http.StatusTooManyRequests:
		class = ErrRateLimited
	case te.StatusCode >= 500:
		class = ErrServerError
	case te.StatusCode/100 == 4:
		return fmt.Errorf("request refused: %w", te)
	case te.StatusCode != 0: // such as a 200 whose token cannot be sent
		return fmt.Errorf("unexpected answer: %w", te)
	default: // no answer came: te says why
		return te
	}
	return fmt.Errorf("%w: %w", class, te)
}

// ParamError reports an id that the spec's pattern, 24 lowercase
// hexadecimal digits, refuses. Nothing was sent.
type ParamError struct {
	Name  string // "orgId" or "apiUserId", as the spec names them
	Value string // the id refused
}

// Error names the parameter and the id refused.
func (e *ParamError) Error() string {
	return fmt.Sprintf("invalid parameter: %s %.64q is not 24 lowercase hexadecimal digits",
		e.Name, e.Value)
}

// maxBody bounds what is read of an answer's body: an ApiError is a few
// hundred bytes, so anything near it is a broken server.
const maxBody = 1 << 20

// BodyTooLargeError reports an answer's body longer than Limit bytes. It
// was not read further.
type BodyTooLargeError struct {
	StatusCode int
	Limit      int64
}

// Error names the status and the limit.
func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("unexpected answer: the body of the %d answer is longer than %d bytes; "+
		"it was not read further", e.StatusCode, e.Limit)
}

// cappedBody fails with a *BodyTooLargeError past left bytes, reading one
// byte more at most. Closing it ends the call's context.
type cappedBody struct {
	rc     io.ReadCloser
	status int
	left   int64
	cancel context.CancelFunc
}

func (b *cappedBody) Read(p []byte) (n int, err error) {
	if b.left >= 0 {
		n, err = b.rc.Read(p[:min(int64(len(p)), b.left+1)])
		b.left -= int64(n)
	}
	if b.left < 0 {
		return max(n-1, 0), &BodyTooLargeError{StatusCode: b.status, Limit: maxBody}
	}
	return n, err
}

func (b *cappedBody) Close() error {
	defer b.cancel()
	return b.rc.Close()
}

// RedirectError reports a redirect, which was not followed: Atlas never
// redirects this operation.
type RedirectError struct {
	StatusCode int
	Location   string
}

// Error names the status and where it pointed.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("unexpected answer: Atlas answered %d %s to %s; "+
		"it never redirects this operation, so the redirect was not followed",
		e.StatusCode, http.StatusText(e.StatusCode), e.Location)
}

// refuseRedirect is the http.Client's CheckRedirect: net/http always sets
// req.Response.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return &RedirectError{StatusCode: req.Response.StatusCode, Location: req.URL.String()}
}
