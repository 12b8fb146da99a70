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
	Failed         Outcome = iota // Remove returned an error: whether the key is gone is not known
	Removed                       // this call removed the key (204)
	AlreadyRemoved                // the key is gone, most likely removed by an attempt of this call whose answer was lost
	NotFound                      // the organization has no such key, and this call did not remove it
)

var outcomeNames = [...]string{Failed: "failed", Removed: "removed", AlreadyRemoved: "already removed", NotFound: "not found"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Remove deletes one organization API key and says what became of it. The
// error is nil unless the Outcome is Failed.
func (c *Client) Remove(ctx context.Context, orgID, keyID string) (Outcome, error) {
	o, _, err := c.remove(ctx, &retryInfo{}, orgID, keyID)
	return o, err
}

// remove is Remove that also hands back the last answer's headers (nil
// when no answer came), so that a caller can pace by the rate-limit budget.
//
// It decides by errorCode, from internal/behavior's table: Atlas answers an
// absent key with API_KEY_NOT_FOUND as 400 (recorded), others have seen it
// as 404. A delete is idempotent but not observably so: when an earlier
// attempt may have been applied (its answer was lost, or was a 5xx) and the
// retry finds no key, that attempt most likely removed it: AlreadyRemoved.
func (c *Client) remove(ctx context.Context, info *retryInfo, orgID, keyID string) (Outcome, http.Header, error) {
	resp, err := c.DeleteOrgApiKeyWithResponse(withRetryInfo(ctx, info), orgID, keyID, nil)
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
