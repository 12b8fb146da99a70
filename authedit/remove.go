package authedit

import (
	"context"
	"fmt"
	"net/http"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// Outcome is what Client.Remove did to a key.
type Outcome int

const (
	// Failed: Remove returned an error; whether the key is gone is not known.
	Failed Outcome = iota
	// Removed: this call removed the key (204).
	Removed
	// AlreadyRemoved: the key is gone, and most likely this call removed it:
	// an earlier attempt was sent and its answer lost (or was a 5xx), and
	// the retry found no key (API_KEY_NOT_FOUND).
	AlreadyRemoved
	// NotFound: the organization has no such key, and no attempt of this
	// call can have removed it (API_KEY_NOT_FOUND on the first attempt, or
	// after attempts that were not applied, such as 429s).
	NotFound
)

var outcomeNames = [...]string{Failed: "failed", Removed: "removed", AlreadyRemoved: "already removed", NotFound: "not found"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Remove deletes one organization API key and says what became of it.
//
// It decides by the answer's errorCode, not its status (codes from
// internal/behavior's table, with their evidence): API_KEY_NOT_FOUND, which
// Atlas sends as 400 (recorded) and others have seen as 404, means the key
// is gone. A delete is idempotent but not observably so: when an earlier
// attempt may have been applied (its answer was lost, or was a 5xx) and the
// retry finds no key, the lost attempt most likely removed it. Remove
// reports that as AlreadyRemoved, otherwise as NotFound, both with a nil
// error. Any other answer is an *APIError with Outcome Failed: among them
// ORG_NOT_FOUND (errors.Is(err, ErrOrgNotFound)), which says nothing about
// the key, and any answer without an errorCode (a proxy's error page, a
// base URL with a wrong path prefix). A request that could not be made or
// answered gives the error of the transport (a *ParamError for ids the spec
// refuses, a *TokenError, a context error...), also with Failed.
//
// DeleteOrgApiKey and DeleteOrgApiKeyWithResponse keep the generated
// signatures and hand back the raw answer; pass them a context from
// WithRetryInfo to tell the two kinds of "not found" apart yourself.
func (c *Client) Remove(ctx context.Context, orgID, keyID string) (Outcome, error) {
	o, _, err := c.remove(ctx, orgID, keyID)
	return o, err
}

// remove is Remove that also hands back the last answer's headers (nil
// when no answer came), so that a caller can pace by the rate-limit budget.
func (c *Client) remove(ctx context.Context, orgID, keyID string) (Outcome, http.Header, error) {
	var info RetryInfo
	resp, err := c.DeleteOrgApiKeyWithResponse(WithRetryInfo(ctx, &info), orgID, keyID, nil)
	if err != nil {
		return Failed, nil, err
	}
	h := resp.HTTPResponse.Header
	if resp.StatusCode() == http.StatusNoContent {
		return Removed, h, nil
	}
	ae := newAPIError(resp, info.Attempts)
	switch {
	case ae.ErrorCode != errorCode(behavior.KeyNotFound):
		return Failed, h, ae
	case info.EarlierMayHaveApplied:
		return AlreadyRemoved, h, nil
	}
	return NotFound, h, nil
}
