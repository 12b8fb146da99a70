package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// harness ties a reference server to clients whose base transport is one observer.
type harness struct {
	cfg config
	srv *atlastest.Server
	obs *observer
}

// client has retries off, so that each answer is the one the scenario
// provokes, unless retries.
func (h *harness) client(url string, creds authedit.Credentials, retries bool) (*authedit.Client, error) {
	retry := authedit.WithoutRetry()
	if retries {
		retry = authedit.WithRetry(authedit.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	}
	return authedit.NewClient(url, creds, authedit.WithTransport(h.obs), authedit.WithTimeout(h.cfg.timeout), retry)
}

// with makes s run do with a client for creds, after the faults (if any)
// are scripted; leftover faults are cancelled.
func (h *harness) with(s scenario, creds authedit.Credentials, faults func(), do func(context.Context, *authedit.Client) (string, error)) scenario {
	s.run = func(ctx context.Context) (string, error) {
		c, err := h.client(h.srv.URL, creds, s.retries)
		if err != nil {
			return "", err
		}
		if faults != nil {
			faults()
			defer h.srv.FailNext(0, http.StatusInternalServerError)
			defer h.srv.DropNext(0)
		}
		return do(ctx, c)
	}
	return s
}

// remove is the common call: Client.Remove.
func remove(org, key string) func(context.Context, *authedit.Client) (string, error) {
	return func(ctx context.Context, c *authedit.Client) (string, error) { return says(c.Remove(ctx, org, key)) }
}

// deleteOnce is a call with the generated signature, for what Remove does
// not offer (flags, a request editor); check says what the response shows.
func deleteOnce(org, key string, params *gen.DeleteOrgApiKeyParams, check func(*gen.DeleteOrgApiKeyResponse) (string, error),
	editors ...gen.RequestEditorFn) func(context.Context, *authedit.Client) (string, error) {
	return func(ctx context.Context, c *authedit.Client) (string, error) {
		resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, params, editors...)
		if err != nil {
			return "", err
		}
		return check(resp)
	}
}

func one(s behavior.Situation) []behavior.Situation { return []behavior.Situation{s} }

func ptr[T any](v T) *T { return &v }

// unknownOrg is a well-formed organization id the reference server does not hold.
const unknownOrg = "0123456789abcdef01234567"

func runLocal(ctx context.Context, cfg config) (report, error) {
	srv := cfg.newServer(atlastest.WithSeedKeys(5))
	defer srv.Close()
	h := &harness{cfg: cfg, srv: srv, obs: &observer{next: http.DefaultTransport, log: cfg.log}}
	cfg.log.Info("reference server started", "url", srv.URL, "org", srv.OrgID())
	return report{
		Target:  fmt.Sprintf("embedded reference server %s, organization %s, auth digest and service account", srv.URL, srv.OrgID()),
		Results: runScenarios(ctx, cfg, h.obs, h.matrix()),
	}, nil
}

// matrix is the local mode's scenarios: together they provoke every status
// the spec documents (a test holds them to it), each with both auth methods.
func (h *harness) matrix() []scenario {
	org, keys := h.srv.OrgID(), h.srv.Keys()
	kept := keys[len(keys)-1] // never deleted
	unchanged := func() error {
		if !h.srv.HasKey(kept) {
			return fmt.Errorf("key %s was deleted", kept)
		}
		return nil
	}
	gone := func(key string) func() error {
		return func() error {
			if h.srv.HasKey(key) || len(h.srv.KeyProjects(key)) != 0 {
				return fmt.Errorf("key %s is still in its organization or projects", key)
			}
			return nil
		}
	}
	scenarios := []scenario{unauthenticated(h.srv.URL, org, h.obs)}
	for i, auth := range []string{"digest", "service-account"} {
		creds := func(p atlastest.Principal) authedit.Credentials {
			if i == 0 {
				return p.APIKey()
			}
			return p.ServiceAccount()
		}
		owner, member := creds(h.srv.Owner()), creds(h.srv.Member())
		wrong := h.srv.Owner()
		wrong.PrivateKey, wrong.ClientSecret = "not-the-private-key", "not-the-client-secret"
		refused, refusedSays := one(behavior.Unauthenticated), "refused"
		if i == 1 { // a wrong client secret is refused at the token endpoint, before the operation
			refused, refusedSays = nil, "token endpoint 401 → refused"
		}
		removed, enveloped, lost := keys[3*i], keys[3*i+1], keys[3*i+2]
		hadProjects := len(h.srv.KeyProjects(removed)) > 0
		row := func(name, outcome string, after func() error, want ...behavior.Situation) scenario {
			return scenario{name: name, auth: auth, outcome: outcome, after: after, want: want}
		}
		lostRow := row("retry after a 500 and a lost answer", authedit.AlreadyRemoved.String(), gone(lost), behavior.ServerError, behavior.KeyNotFound)
		lostRow.retries = true
		scenarios = append(scenarios,
			h.with(row("delete removes key from its projects", "removed", func() error {
				if !hadProjects {
					return fmt.Errorf("key %s had no projects to leave", removed)
				}
				return gone(removed)()
			}, behavior.Removed), owner, nil, remove(org, removed)),
			h.with(row("delete the same key again", "not found", nil, behavior.KeyNotFound), owner, nil, remove(org, removed)),
			h.with(row("pretty=true indents the error", "indented", nil, behavior.KeyNotFound), owner, nil,
				deleteOnce(org, removed, &gen.DeleteOrgApiKeyParams{Pretty: ptr(true)}, func(resp *gen.DeleteOrgApiKeyResponse) (string, error) {
					if !strings.Contains(string(resp.Body), "\n  \"") {
						return "not indented", nil
					}
					return "indented", nil
				})),
			h.with(row("unknown organization", "org not found", unchanged, behavior.OrgNotFound), owner, nil, remove(unknownOrg, kept)),
			h.with(row("wrong secret is refused", refusedSays, unchanged, refused...), creds(wrong), nil, remove(org, kept)),
			h.with(row("non-owner is forbidden", "forbidden", unchanged, behavior.NotOwner), member, nil, remove(org, kept)),
			h.with(row("unversioned Accept is refused", "", unchanged, behavior.InvalidVersion), owner, nil,
				deleteOnce(org, kept, nil, func(*gen.DeleteOrgApiKeyResponse) (string, error) { return "", nil },
					func(_ context.Context, r *http.Request) error { r.Header.Set("Accept", "application/json"); return nil })),
			h.with(row("malformed id: refused before sending", "ParamError apiUserId", func() error {
				if trips, _, _ := h.obs.seen(); trips != 0 {
					return fmt.Errorf("%d round trips", trips)
				}
				return nil
			}), owner, nil, remove(org, "../../groups/"+kept)),
			h.with(row("envelope=true wraps the 204", "{status: 204}", gone(enveloped), behavior.Enveloped), owner, nil,
				deleteOnce(org, enveloped, &gen.DeleteOrgApiKeyParams{Envelope: ptr(true)}, func(resp *gen.DeleteOrgApiKeyResponse) (string, error) {
					if resp.JSON200 == nil {
						return "no envelope", nil
					}
					return fmt.Sprintf("{status: %d}", resp.JSON200.Status), nil
				})),
			h.with(row("injected 500 changes nothing", "server error", unchanged, behavior.ServerError), owner,
				func() { h.srv.FailNext(1, http.StatusInternalServerError) }, remove(org, kept)),
			// The server answers 500, then applies the delete but drops the
			// connection; the retry finds no key: already removed, not "not found".
			h.with(lostRow, owner, func() { h.srv.FailNext(1, http.StatusInternalServerError); h.srv.DropNext(1) }, remove(org, lost)),
		)
	}
	return append(scenarios, h.rateLimited())
}

// rateLimited runs on a server of its own whose bucket holds one request and
// regains one a minute, so the 429 comes from the real limiter. Instead of
// waiting out Retry-After, it moves the server's clock on by that much.
func (h *harness) rateLimited() scenario {
	s := scenario{name: "429, then 204 after Retry-After", auth: "digest", want: []behavior.Situation{behavior.Removed, behavior.RateLimited, behavior.Removed}}
	s.run = func(ctx context.Context) (string, error) {
		var passed atomic.Int64
		start := time.Now()
		srv := h.cfg.newServer(atlastest.WithRateLimit(1, 1, time.Minute),
			atlastest.WithClock(func() time.Time { return start.Add(time.Duration(passed.Load())) }))
		defer srv.Close()
		c, err := h.client(srv.URL, srv.Owner().APIKey(), false)
		if err != nil {
			return "", err
		}
		keys := srv.Keys()
		var resp *gen.DeleteOrgApiKeyResponse
		for _, key := range keys[:2] {
			if resp, err = c.DeleteOrgApiKeyWithResponse(ctx, srv.OrgID(), key, nil); err != nil {
				return "", err
			}
		}
		secs, err := strconv.Atoi(resp.HTTPResponse.Header.Get(behavior.RetryAfter))
		if err != nil {
			return "", fmt.Errorf("reading the 429's Retry-After: %w", err)
		}
		passed.Add(int64(time.Duration(secs) * time.Second))
		_, err = c.DeleteOrgApiKeyWithResponse(ctx, srv.OrgID(), keys[1], nil)
		return fmt.Sprintf("clock +%ds", secs), err
	}
	return s
}
