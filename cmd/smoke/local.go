package main

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// scenario is one row of the report. run makes its calls; want lists what
// Atlas answers them, in order (internal/behavior's situations), after any
// digest challenges; the row passes when run returns nil, the answers are
// those of want (or check accepts them) and each one fits the spec.
type scenario struct {
	name, auth string
	want       []behavior.Situation
	outcome    string // what the caller is told besides the answers, e.g. "not found"
	retries    bool   // the client retries failed attempts; else each answer is final
	run        func(ctx context.Context) (note string, err error)
	check      func([]answer) error // replaces the comparison with want
}

// expected is the EXPECTED column: the answers (status and errorCode of one,
// the statuses of several), then what the caller is told.
func (s scenario) expected() string {
	parts := make([]string, len(s.want))
	for i, w := range s.want {
		a, _ := behavior.Lookup(w)
		parts[i] = strconv.Itoa(a.Status)
		if len(s.want) == 1 {
			parts[i] = expected(w)
		}
	}
	return arrow(strings.Join(parts, ", "), s.outcome)
}

// arrow joins answers and what they meant to the caller.
func arrow(answers, outcome string) string {
	if answers != "" && outcome != "" {
		return answers + " → " + outcome
	}
	return answers + outcome
}

// matches compares answers with want: the last len(want) answers in order;
// any before them must be digest challenges, which a digest client meets
// before its first authenticated request.
func matches(answers []answer, want []behavior.Situation) error {
	extra := len(answers) - len(want)
	if extra < 0 {
		return fmt.Errorf("%d answers, want %d", len(answers), len(want))
	}
	for _, a := range answers[:extra] {
		if err := a.is(behavior.Unauthenticated); err != nil {
			return fmt.Errorf("unexpected answer %s", a)
		}
	}
	for i, w := range want {
		if err := answers[extra+i].is(w); err != nil {
			return err
		}
	}
	return nil
}

// runScenarios runs each scenario in turn and makes its row. It stops at
// the first scenario that cannot reach the server at all: the others
// would only fail the same way, one timeout or retry loop after another.
func runScenarios(ctx context.Context, cfg config, obs *observer, scenarios []scenario) []result {
	var results []result
	for i, s := range scenarios {
		obs.begin(s.name, s.want)
		start := time.Now()
		note, err := s.run(ctx)
		elapsed := time.Since(start)
		trips, answers, violations := obs.seen()
		check := s.check
		if check == nil {
			check = func(a []answer) error { return matches(a, s.want) }
		}
		var problems []string
		if err != nil {
			problems = append(problems, err.Error())
		}
		if cerr := check(answers); cerr != nil && err == nil {
			problems = append(problems, cerr.Error())
		}
		problems = append(problems, violations...)
		var got []string
		for _, a := range answers[max(0, len(answers)-max(1, len(s.want))):] {
			got = append(got, a.String())
		}
		if len(got) > 1 {
			for i, a := range answers[len(answers)-len(got):] {
				got[i] = strconv.Itoa(a.status)
			}
		}
		r := result{Scenario: s.name, Auth: s.auth, Retries: s.retries, Expected: s.expected(), Got: arrow(strings.Join(got, ", "), note),
			RoundTrips: trips, Duration: elapsed, Pass: len(problems) == 0, Detail: strings.Join(problems, "; ")}
		if r.Got == "" {
			r.Got = "error"
		}
		cfg.log.Info("scenario", "name", r.Scenario, "auth", r.Auth, "got", r.Got, "pass", r.Pass)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			r.Detail += fmt.Sprintf(" (the server is unreachable; scenarios not run: %d)", len(scenarios)-i-1)
			return append(results, r)
		}
		results = append(results, r)
	}
	return results
}

// harness ties a reference server to clients whose base transport is one observer.
type harness struct {
	cfg config
	srv *atlastest.Server
	obs *observer
}

// with makes s run do with a client for creds: retries off, so that each
// answer is the one the scenario provokes, unless s.retries.
func (h *harness) with(creds authedit.Credentials, s scenario, do func(context.Context, *authedit.Client) (string, error)) scenario {
	s.run = func(ctx context.Context) (string, error) {
		c, err := h.client(h.srv.URL, creds, s.retries)
		if err != nil {
			return "", err
		}
		return do(ctx, c)
	}
	return s
}

func (h *harness) client(url string, creds authedit.Credentials, retries bool) (*authedit.Client, error) {
	retry := authedit.WithoutRetry()
	if retries {
		retry = authedit.WithRetry(authedit.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	}
	return authedit.NewClient(url, creds, authedit.WithTransport(h.obs), authedit.WithTimeout(h.cfg.timeout), retry)
}

// deleteOnce is the common call: one delete with the generated signature,
// then an optional check of the response or of the server's state.
func deleteOnce(org, key string, params *gen.DeleteOrgApiKeyParams, check func(*gen.DeleteOrgApiKeyResponse) error,
	editors ...gen.RequestEditorFn) func(context.Context, *authedit.Client) (string, error) {
	return func(ctx context.Context, c *authedit.Client) (string, error) {
		resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, params, editors...)
		if err != nil || check == nil {
			return "", err
		}
		return "", check(resp)
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
	gone := func(key string) error {
		if h.srv.HasKey(key) || len(h.srv.KeyProjects(key)) != 0 {
			return fmt.Errorf("key %s is still in its organization or projects", key)
		}
		return nil
	}
	unchanged := func(*gen.DeleteOrgApiKeyResponse) error {
		if !h.srv.HasKey(kept) {
			return fmt.Errorf("key %s was deleted", kept)
		}
		return nil
	}
	scenarios := []scenario{unauthenticated(h.srv.URL, org, h.obs)}
	for i, m := range []struct {
		name  string
		creds func(atlastest.Principal) authedit.Credentials
	}{
		{"digest", func(p atlastest.Principal) authedit.Credentials { return p.APIKey() }},
		{"service-account", func(p atlastest.Principal) authedit.Credentials { return p.ServiceAccount() }},
	} {
		owner, member := m.creds(h.srv.Owner()), m.creds(h.srv.Member())
		wrong := h.srv.Owner()
		wrong.PrivateKey, wrong.ClientSecret = "not-the-private-key", "not-the-client-secret"
		removed, enveloped, lost := keys[3*i], keys[3*i+1], keys[3*i+2]
		hadProjects := len(h.srv.KeyProjects(removed)) > 0
		row := func(name string, want ...behavior.Situation) scenario {
			return scenario{name: name, auth: m.name, want: want}
		}
		scenarios = append(scenarios,
			h.with(owner, row("delete removes key from org and projects", behavior.Removed),
				deleteOnce(org, removed, nil, func(*gen.DeleteOrgApiKeyResponse) error {
					if !hadProjects {
						return fmt.Errorf("key %s had no projects to leave", removed)
					}
					return gone(removed)
				})),
			h.with(owner, scenario{name: "delete the same key again", auth: m.name, want: one(behavior.KeyNotFound), outcome: authedit.NotFound.String()},
				func(ctx context.Context, c *authedit.Client) (string, error) {
					outcome, err := c.Remove(ctx, org, removed)
					if err == nil && outcome != authedit.NotFound {
						err = fmt.Errorf("got %s from Remove, want %s", outcome, authedit.NotFound)
					}
					return outcome.String(), err
				}),
			h.with(owner, row("pretty=true indents the error", behavior.KeyNotFound),
				deleteOnce(org, removed, &gen.DeleteOrgApiKeyParams{Pretty: ptr(true)}, func(resp *gen.DeleteOrgApiKeyResponse) error {
					if !strings.Contains(string(resp.Body), "\n  \"") {
						return fmt.Errorf("pretty=true body is not indented: %q", resp.Body)
					}
					return nil
				})),
			h.with(owner, row("unknown organization", behavior.OrgNotFound), deleteOnce(unknownOrg, kept, nil, unchanged)),
			h.wrongSecret(m.name, m.creds(wrong), kept),
			h.with(member, row("non-owner is forbidden", behavior.NotOwner), deleteOnce(org, kept, nil, unchanged)),
			h.with(owner, row("unversioned Accept is refused", behavior.InvalidVersion),
				deleteOnce(org, kept, nil, unchanged, func(_ context.Context, r *http.Request) error {
					r.Header.Set("Accept", "application/json")
					return nil
				})),
			h.malformedID(m.name, owner, kept),
			h.with(owner, scenario{name: "envelope=true wraps the 204", auth: m.name, want: one(behavior.Enveloped), outcome: "{status: 204}"},
				func(ctx context.Context, c *authedit.Client) (string, error) {
					resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, enveloped, &gen.DeleteOrgApiKeyParams{Envelope: ptr(true)})
					if err != nil {
						return "", err
					}
					if resp.JSON200 == nil || resp.JSON200.Status != http.StatusNoContent {
						return "", fmt.Errorf("envelope %s, want status 204", resp.Body)
					}
					return "{status: 204}", gone(enveloped)
				}),
			h.injected500(m.name, owner, kept, unchanged),
			h.lostAnswer(m.name, owner, lost),
		)
	}
	return append(scenarios, h.rateLimited())
}

func (h *harness) wrongSecret(auth string, creds authedit.Credentials, key string) scenario {
	s := scenario{name: "wrong secret is refused", auth: auth, want: one(behavior.Unauthenticated), outcome: "refused"}
	if creds.Scheme() == "ServiceAccounts" { // refused at the token endpoint: no answer from the operation
		s.want, s.outcome = nil, "token endpoint 401 → refused"
	}
	return h.with(creds, s, func(ctx context.Context, c *authedit.Client) (string, error) {
		_, err := c.Remove(ctx, h.srv.OrgID(), key)
		var te *authedit.TokenError
		var ae *authedit.APIError
		switch {
		case errors.As(err, &te) && te.StatusCode == http.StatusUnauthorized:
			return "token endpoint 401 → refused", nil
		case errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized:
			return "refused", nil
		}
		return "", fmt.Errorf("want the credentials refused, got %v", err)
	})
}

func (h *harness) malformedID(auth string, creds authedit.Credentials, key string) scenario {
	s := scenario{name: "malformed id is refused before sending", auth: auth, outcome: "ParamError, nothing sent"}
	return h.with(creds, s, func(ctx context.Context, c *authedit.Client) (string, error) {
		_, err := c.Remove(ctx, h.srv.OrgID(), "../../groups/"+key)
		var pe *authedit.ParamError
		if !errors.As(err, &pe) || pe.Name != "apiUserId" {
			return "", fmt.Errorf("want a *ParamError for apiUserId, got %v", err)
		}
		if trips, _, _ := h.obs.seen(); trips != 0 {
			return "", fmt.Errorf("%d round trips", trips)
		}
		return "ParamError, nothing sent", nil
	})
}

func (h *harness) injected500(auth string, creds authedit.Credentials, key string, unchanged func(*gen.DeleteOrgApiKeyResponse) error) scenario {
	s := scenario{name: "injected 500 changes nothing", auth: auth, want: one(behavior.ServerError)}
	return h.with(creds, s, func(ctx context.Context, c *authedit.Client) (string, error) {
		h.srv.FailNext(1, http.StatusInternalServerError)
		defer h.srv.FailNext(0, http.StatusInternalServerError)
		return deleteOnce(h.srv.OrgID(), key, nil, unchanged)(ctx, c)
	})
}

// lostAnswer: the server answers 500, then applies the delete but drops the
// connection; the retry finds no key, and Client.Remove reports the key as
// already removed rather than not found.
func (h *harness) lostAnswer(auth string, creds authedit.Credentials, key string) scenario {
	s := scenario{name: "retry after a 500 and a lost answer", auth: auth, retries: true,
		want: []behavior.Situation{behavior.ServerError, behavior.KeyNotFound}, outcome: authedit.AlreadyRemoved.String()}
	return h.with(creds, s, func(ctx context.Context, c *authedit.Client) (string, error) {
		h.srv.FailNext(1, http.StatusInternalServerError) // a FailNext answer comes before a drop
		h.srv.DropNext(1)
		defer h.srv.DropNext(0)
		outcome, err := c.Remove(ctx, h.srv.OrgID(), key)
		if err == nil && outcome != authedit.AlreadyRemoved {
			err = fmt.Errorf("got %s from Remove, want %s", outcome, authedit.AlreadyRemoved)
		}
		return outcome.String(), err
	})
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
