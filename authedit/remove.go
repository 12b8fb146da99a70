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

// Remove deletes one organization API key; the error is nil unless Failed.
func (c *Client) Remove(ctx context.Context, orgID, keyID string) (Outcome, error) {
	return c.remove(ctx, &retryInfo{}, orgID, keyID)
}

// remove decides by errorCode (internal/behavior): Atlas answers an absent
// key with API_KEY_NOT_FOUND as 400 (recorded), others saw 404. When an
// earlier attempt may have been applied (its answer lost, or a 5xx), a
// retry that finds no key most likely follows its success: AlreadyRemoved.
func (c *Client) remove(ctx context.Context, info *retryInfo, orgID, keyID string) (Outcome, error) {
	resp, err := c.DeleteOrgApiKeyWithResponse(withRetryInfo(ctx, info), orgID, keyID, nil)
	switch {
	case err != nil:
		return Failed, err
	case resp.StatusCode() == http.StatusNoContent:
		return Removed, nil
	}
	ae := newAPIError(resp, info.Attempts)
	switch {
	case ae.ErrorCode != errorCode(behavior.KeyNotFound):
		return Failed, ae
	case info.EarlierMayHaveApplied:
		return AlreadyRemoved, nil
	}
	return NotFound, nil
}
