package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// unknownOrg is a well-formed organization id the reference server does not hold.
const unknownOrg = "0123456789abcdef01234567"

func runLocal(ctx context.Context, cfg config) (report, error) {
	srv := cfg.newServer(atlastest.WithSeedKeys(5))
	defer srv.Close()
	obs := &observer{log: cfg.log}
	return report{
		Target:  fmt.Sprintf("embedded reference server %s, organization %s, auth digest and service account", srv.URL, srv.OrgID()),
		Results: runScenarios(ctx, obs, matrix(cfg, srv, obs)),
	}, nil
}

// newClient has retries off, so that each answer is the one the scenario
// provokes, unless retries; then it retries at once, on no clock.
func newClient(cfg config, obs *observer, url string, creds authedit.Credentials, retries bool) (*authedit.Client, error) {
	retry := authedit.WithoutRetry()
	if retries {
		retry = authedit.WithRetry(authedit.RetryPolicy{MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond})
	}
	return authedit.NewClient(url, creds, authedit.WithTransport(obs), authedit.WithTimeout(cfg.timeout), retry)
}

// call is what a local scenario does with its client.
type call = func(context.Context, *authedit.Client) (said string, err error)

// matrix is the local mode's scenarios: together they provoke every status
// the spec documents (TestMatrixCoversDocumentedStatuses), each with both
// authentication methods.
func matrix(cfg config, srv *atlastest.Server, obs *observer) []scenario {
	org, keys := srv.OrgID(), srv.Keys()
	kept := keys[len(keys)-1] // never deleted
	// left checks that kept is still there and gone, if any, is deleted
	// and has left the projects it was in.
	left := func(gone string) func() error {
		had := len(srv.KeyProjects(gone))
		return func() error {
			if !srv.HasKey(kept) {
				return fmt.Errorf("key %s was deleted", kept)
			}
			if gone != "" && (had == 0 || srv.HasKey(gone) || len(srv.KeyProjects(gone)) != 0) {
				return fmt.Errorf("key %s had no projects, or is still in its organization or projects", gone)
			}
			return nil
		}
	}
	// remove calls Remove, after scripting fail 500s and then drop lost answers.
	remove := func(org, key string, fail, drop int) call {
		return func(ctx context.Context, c *authedit.Client) (string, error) {
			srv.FailNext(fail, http.StatusInternalServerError)
			srv.DropNext(drop)
			return says(c.Remove(ctx, org, key))
		}
	}
	// raw calls with the generated signature, for what Remove does not
	// offer, and says what the body showed: an envelope, or indentation.
	raw := func(key string, p *gen.DeleteOrgApiKeyParams, editors ...gen.RequestEditorFn) call {
		return func(ctx context.Context, c *authedit.Client) (string, error) {
			resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, p, editors...)
			switch {
			case err != nil:
				return "", err
			case resp.JSON200 != nil:
				return fmt.Sprintf("{status: %d}", resp.JSON200.Status), nil
			case bytes.Contains(resp.Body, []byte("\n  \"")):
				return "indented", nil
			}
			return "", nil
		}
	}
	unversioned := func(_ context.Context, r *http.Request) error { r.Header.Set("Accept", "application/json"); return nil }
	noTrips := func() error {
		if trips, _, _ := obs.seen(); trips != 0 {
			return fmt.Errorf("%d round trips", trips)
		}
		return nil
	}
	yes := true
	scenarios := []scenario{unauthenticated(srv.URL, org, obs)}
	for i, auth := range []string{"digest", "service-account"} {
		// row gives s a run that calls with a new client for who.
		row := func(s scenario, who atlastest.Principal, c call) scenario {
			s.auth = auth
			if s.after == nil {
				s.after = left("")
			}
			s.run = func(ctx context.Context) (string, error) {
				client, err := newClient(cfg, obs, srv.URL, []authedit.Credentials{who.APIKey(), who.ServiceAccount()}[i], s.retries)
				if err != nil {
					return "", err
				}
				return c(ctx, client)
			}
			return s
		}
		owner, wrong := srv.Owner(), srv.Owner()
		wrong.PrivateKey, wrong.ClientSecret = "not-the-private-key", "not-the-client-secret"
		refused := scenario{name: "wrong secret is refused", want: one(behavior.Unauthenticated), outcome: "refused"}
		if i == 1 { // refused at the token endpoint, before the operation
			refused.want, refused.outcome = nil, "token endpoint 401 → refused"
		}
		removed, enveloped, lost := keys[3*i], keys[3*i+1], keys[3*i+2]
		scenarios = append(scenarios,
			row(scenario{name: "delete removes key from its projects", want: one(behavior.Removed), outcome: "removed", after: left(removed)},
				owner, remove(org, removed, 0, 0)),
			row(scenario{name: "delete the same key again", want: one(behavior.KeyNotFound), outcome: "not found"}, owner, remove(org, removed, 0, 0)),
			row(scenario{name: "pretty=true indents the error", want: one(behavior.KeyNotFound), outcome: "indented"}, owner,
				raw(removed, &gen.DeleteOrgApiKeyParams{Pretty: &yes})),
			row(scenario{name: "unknown organization", want: one(behavior.OrgNotFound), outcome: "org not found"}, owner, remove(unknownOrg, kept, 0, 0)),
			row(refused, wrong, remove(org, kept, 0, 0)),
			row(scenario{name: "non-owner is forbidden", want: one(behavior.NotOwner), outcome: "forbidden"}, srv.Member(), remove(org, kept, 0, 0)),
			row(scenario{name: "unversioned Accept is refused", want: one(behavior.InvalidVersion)}, owner, raw(kept, nil, unversioned)),
			row(scenario{name: "malformed id: refused before sending", outcome: "ParamError apiUserId", after: noTrips}, owner,
				remove(org, "../../groups/"+kept, 0, 0)),
			row(scenario{name: "envelope=true wraps the 204", want: one(behavior.Enveloped), outcome: "{status: 204}", after: left(enveloped)}, owner,
				raw(enveloped, &gen.DeleteOrgApiKeyParams{Envelope: &yes})),
			row(scenario{name: "injected 500 changes nothing", want: one(behavior.ServerError), outcome: "server error"}, owner, remove(org, kept, 1, 0)),
			// The delete applies but its answer is lost; the retry finds no
			// key: already removed, not "not found".
			row(scenario{name: "retry after a 500 and a lost answer", retries: true, want: []behavior.Situation{behavior.ServerError, behavior.KeyNotFound},
				outcome: authedit.AlreadyRemoved.String(), after: left(lost)}, owner, remove(org, lost, 1, 1)),
		)
	}
	return append(scenarios, rateLimited(cfg, obs))
}

// rateLimited runs on a server of its own whose bucket holds one request and
// regains one a minute, so the 429 comes from the real limiter. Instead of
// waiting out Retry-After, it moves that server's clock on by as much.
func rateLimited(cfg config, obs *observer) scenario {
	s := scenario{name: "429, then 204 after Retry-After", auth: "digest", want: []behavior.Situation{behavior.Removed, behavior.RateLimited, behavior.Removed},
		outcome: "removed"}
	s.run = func(ctx context.Context) (string, error) {
		var passed atomic.Int64
		start := time.Now()
		srv := cfg.newServer(atlastest.WithRateLimit(1, 1, time.Minute),
			atlastest.WithClock(func() time.Time { return start.Add(time.Duration(passed.Load())) }))
		defer srv.Close()
		c, err := newClient(cfg, obs, srv.URL, srv.Owner().APIKey(), false)
		if err != nil {
			return "", err
		}
		org, keys, limited := srv.OrgID(), srv.Keys(), (*authedit.APIError)(nil)
		if _, err := c.Remove(ctx, org, keys[0]); err != nil {
			return "", err
		}
		if _, err := c.Remove(ctx, org, keys[1]); !errors.As(err, &limited) || limited.RetryAfter <= 0 {
			return "", fmt.Errorf("want a 429 with Retry-After: %w", err)
		}
		passed.Add(int64(limited.RetryAfter))
		return says(c.Remove(ctx, org, keys[1]))
	}
	return s
}
