package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
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

// matrix is the local mode's scenarios: together they provoke every status
// the spec documents (TestMatrixCoversDocumentedStatuses), each with both
// authentication methods.
func matrix(cfg config, srv *atlastest.Server, obs *observer) []scenario {
	org, keys := srv.OrgID(), srv.Keys()
	kept := keys[len(keys)-1] // never deleted
	unchanged := func() error {
		if !srv.HasKey(kept) {
			return fmt.Errorf("key %s was deleted", kept)
		}
		return nil
	}
	gone := func(key string) func() error {
		return func() error {
			if srv.HasKey(key) || len(srv.KeyProjects(key)) != 0 {
				return fmt.Errorf("key %s is still in its organization or projects", key)
			}
			return nil
		}
	}
	remove := func(org, key string) func(context.Context, *authedit.Client) (string, error) {
		return func(ctx context.Context, c *authedit.Client) (string, error) { return says(c.Remove(ctx, org, key)) }
	}
	// withParams calls with the generated signature, for what Remove does not offer.
	withParams := func(key string, p *gen.DeleteOrgApiKeyParams, said func(*gen.DeleteOrgApiKeyResponse) string,
		editors ...gen.RequestEditorFn) func(context.Context, *authedit.Client) (string, error) {
		return func(ctx context.Context, c *authedit.Client) (string, error) {
			resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, p, editors...)
			if err != nil {
				return "", err
			}
			return said(resp), nil
		}
	}
	yes := true
	scenarios := []scenario{unauthenticated(srv.URL, org, obs)}
	for i, auth := range []string{"digest", "service-account"} {
		// row gives s a run that calls with a new client for who; faults
		// the call scripts and does not use up are cancelled.
		row := func(s scenario, who atlastest.Principal, call func(context.Context, *authedit.Client) (string, error)) scenario {
			s.auth = auth
			s.run = func(ctx context.Context) (string, error) {
				var creds authedit.Credentials = who.APIKey()
				if i == 1 {
					creds = who.ServiceAccount()
				}
				c, err := newClient(cfg, obs, srv.URL, creds, s.retries)
				if err != nil {
					return "", err
				}
				defer srv.FailNext(0, http.StatusInternalServerError)
				defer srv.DropNext(0)
				return call(ctx, c)
			}
			return s
		}
		owner, wrong := srv.Owner(), srv.Owner()
		wrong.PrivateKey, wrong.ClientSecret = "not-the-private-key", "not-the-client-secret"
		refused := scenario{name: "wrong secret is refused", want: one(behavior.Unauthenticated), outcome: "refused", after: unchanged}
		if i == 1 { // refused at the token endpoint, before the operation
			refused.want, refused.outcome = nil, "token endpoint 401 → refused"
		}
		removed, enveloped, lost := keys[3*i], keys[3*i+1], keys[3*i+2]
		hadProjects := len(srv.KeyProjects(removed)) > 0
		scenarios = append(scenarios,
			row(scenario{name: "delete removes key from its projects", want: one(behavior.Removed), outcome: "removed", after: func() error {
				if !hadProjects {
					return fmt.Errorf("key %s had no projects to leave", removed)
				}
				return gone(removed)()
			}}, owner, remove(org, removed)),
			row(scenario{name: "delete the same key again", want: one(behavior.KeyNotFound), outcome: "not found"}, owner, remove(org, removed)),
			row(scenario{name: "pretty=true indents the error", want: one(behavior.KeyNotFound), outcome: "indented"}, owner,
				withParams(removed, &gen.DeleteOrgApiKeyParams{Pretty: &yes}, func(resp *gen.DeleteOrgApiKeyResponse) string {
					if !strings.Contains(string(resp.Body), "\n  \"") {
						return "not indented"
					}
					return "indented"
				})),
			row(scenario{name: "unknown organization", want: one(behavior.OrgNotFound), outcome: "org not found", after: unchanged}, owner, remove(unknownOrg, kept)),
			row(refused, wrong, remove(org, kept)),
			row(scenario{name: "non-owner is forbidden", want: one(behavior.NotOwner), outcome: "forbidden", after: unchanged}, srv.Member(), remove(org, kept)),
			row(scenario{name: "unversioned Accept is refused", want: one(behavior.InvalidVersion), after: unchanged}, owner,
				withParams(kept, nil, func(*gen.DeleteOrgApiKeyResponse) string { return "" },
					func(_ context.Context, r *http.Request) error { r.Header.Set("Accept", "application/json"); return nil })),
			row(scenario{name: "malformed id: refused before sending", outcome: "ParamError apiUserId", after: func() error {
				if trips, _, _ := obs.seen(); trips != 0 {
					return fmt.Errorf("%d round trips", trips)
				}
				return nil
			}}, owner, remove(org, "../../groups/"+kept)),
			row(scenario{name: "envelope=true wraps the 204", want: one(behavior.Enveloped), outcome: "{status: 204}", after: gone(enveloped)}, owner,
				withParams(enveloped, &gen.DeleteOrgApiKeyParams{Envelope: &yes}, func(resp *gen.DeleteOrgApiKeyResponse) string {
					if resp.JSON200 == nil {
						return "no envelope"
					}
					return fmt.Sprintf("{status: %d}", resp.JSON200.Status)
				})),
			row(scenario{name: "injected 500 changes nothing", want: one(behavior.ServerError), outcome: "server error", after: unchanged}, owner,
				func(ctx context.Context, c *authedit.Client) (string, error) {
					srv.FailNext(1, http.StatusInternalServerError)
					return remove(org, kept)(ctx, c)
				}),
			// A 500, then the delete applies but its answer is lost; the
			// retry finds no key: already removed, not "not found".
			row(scenario{name: "retry after a 500 and a lost answer", retries: true, want: []behavior.Situation{behavior.ServerError, behavior.KeyNotFound},
				outcome: authedit.AlreadyRemoved.String(), after: gone(lost)}, owner,
				func(ctx context.Context, c *authedit.Client) (string, error) {
					srv.FailNext(1, http.StatusInternalServerError)
					srv.DropNext(1)
					return remove(org, lost)(ctx, c)
				}),
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
		keys, limited := srv.Keys(), (*authedit.APIError)(nil)
		if _, err := c.Remove(ctx, srv.OrgID(), keys[0]); err != nil {
			return "", err
		}
		if _, err := c.Remove(ctx, srv.OrgID(), keys[1]); !errors.As(err, &limited) || limited.RetryAfter <= 0 {
			return "", fmt.Errorf("want a 429 with Retry-After: %w", err)
		}
		passed.Add(int64(limited.RetryAfter))
		return says(c.Remove(ctx, srv.OrgID(), keys[1]))
	}
	return s
}
