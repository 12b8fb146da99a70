package deleteorgapikey

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Outcome is what Client.Remove did to a key.
type Outcome int

const (
	// Failed means that Remove returned an error, and whether the key is
	// gone is not known.
	Failed Outcome = iota
	// Removed means that this call removed the key (204).
	Removed
	// AlreadyRemoved means that the key is gone, most likely removed by an
	// attempt of this call whose answer was lost or was a 5xx.
	AlreadyRemoved
	// NotFound means that the organization has no such key, and this call
	// did not remove it.
	NotFound
)

var outcomeNames = [...]string{
	Failed: "failed", Removed: "removed", AlreadyRemoved: "already removed", NotFound: "not found",
}

// String returns the outcome in words, such as "already removed".
func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Remove removes the API key keyID from the organization orgID, retrying
// as the client's RetryPolicy says. The error is nil unless the Outcome is
// Failed.
//
// Atlas answers a key it does not have with errorCode API_KEY_NOT_FOUND:
// that is NotFound, with no error. When an earlier attempt of this call may
// have been applied, the same answer is AlreadyRemoved.
func (c *Client) Remove(ctx context.Context, orgID, keyID string) (Outcome, error) {
	return c.remove(ctx, orgID, keyID, &sent{})
}

func (c *Client) remove(ctx context.Context, orgID, keyID string, s *sent) (Outcome, error) {
	res, err := c.send(ctx, orgID, keyID, nil, nil, s)
	if err != nil {
		return Failed, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	switch {
	case err != nil:
		return Failed, err
	case res.StatusCode == http.StatusNoContent:
		return Removed, nil
	}
	e := newAPIError(res, body)
	e.Attempts = s.attempts
	switch {
	case e.ErrorCode != codeKeyNotFound:
		return Failed, e
	case s.mayHaveApplied:
		return AlreadyRemoved, nil
	}
	return NotFound, nil
}
