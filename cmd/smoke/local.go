package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
)

// scenario is one row of the matrix; run returns what it saw and whether
// that is what the contract promises.
type scenario struct {
	name, auth, expected string
	run                  func(ctx context.Context) (got string, pass bool, detail string)
	obs                  *observer // counts its round trips; the harness's when nil
}

// harness ties a reference server to clients that report through one observer.
type harness struct {
	cfg config
	srv *atlastest.Server
	obs *observer
}

// client has retries off, so that each scenario sees the status it provokes;
// the retry scenario turns them back on.
func (h *harness) client(creds authedit.Credentials, opts ...authedit.Option) (*authedit.Client, error) {
	opts = append([]authedit.Option{authedit.WithTransport(h.obs), authedit.WithTimeout(h.cfg.timeout), authedit.WithoutRetry()}, opts...)
	return authedit.NewClient(h.srv.URL, creds, opts...)
}

func digestCreds(c atlastest.Credentials) authedit.Credentials {
	return authedit.APIKey{PublicKey: c.PublicKey, PrivateKey: authedit.Secret(c.PrivateKey)}
}

func serviceAccountCreds(c atlastest.Credentials) authedit.Credentials {
	return authedit.ServiceAccount{ClientID: c.ClientID, ClientSecret: authedit.Secret(c.ClientSecret)}
}

var authMethods = []struct {
	name  string
	creds func(atlastest.Credentials) authedit.Credentials
}{
	{"digest", digestCreds},
	{"service-account", serviceAccountCreds},
}

// unknownOrg is a well-formed organization id the reference server does not hold.
const unknownOrg = "0123456789abcdef01234567"

func runLocal(ctx context.Context, cfg config) ([]result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	srv := cfg.newServer(atlastest.WithSeedKeys(5))
	defer srv.Close()
	h := &harness{cfg: cfg, srv: srv, obs: &observer{next: http.DefaultTransport, log: cfg.log}}
	cfg.log.Info("reference server started", "url", srv.URL, "org", srv.OrgID())

	keys := srv.Keys()
	var scenarios []scenario
	for i, m := range authMethods {
		owner, member := m.creds(srv.Owner()), m.creds(srv.Member())
		wrong := m.creds(atlastest.Credentials{
			PublicKey: srv.Owner().PublicKey, PrivateKey: "not-the-private-key",
			ClientID: srv.Owner().ClientID, ClientSecret: "not-the-client-secret",
		})
		deleted, enveloped := keys[2*i], keys[2*i+1]
		scenarios = append(scenarios,
			h.deleteRemovesKey(m.name, owner, deleted),
			h.expectStatus("delete the same key again", m.name, owner, srv.OrgID(), deleted, nil, 404, nil),
			h.expectStatus("unknown organization", m.name, owner, unknownOrg, keys[4], nil, 404, nil),
			h.wrongSecret(m.name, wrong),
			h.expectStatus("non-owner is forbidden", m.name, member, srv.OrgID(), keys[4], nil, 403, nil),
			h.malformedID(m.name, owner),
			h.envelope(m.name, owner, enveloped),
			h.expectStatus("pretty=true indents the error", m.name, owner, srv.OrgID(), deleted,
				&gen.DeleteOrgApiKeyParams{Pretty: ptr(true)}, 404, indented),
			h.injected500(m.name, owner, keys[5+i]),
			h.lostAnswer(m.name, owner, keys[7+i]),
		)
	}
	scenarios = append(scenarios, rateLimited(cfg))

	return runScenarios(ctx, cfg, h.obs, scenarios), nil
}

// runScenarios runs each scenario in turn and makes its row: what the
// scenario saw, plus the round trips and spec violations its observer saw.
func runScenarios(ctx context.Context, cfg config, defaultObs *observer, scenarios []scenario) []result {
	results := make([]result, 0, len(scenarios))
	for _, s := range scenarios {
		obs := s.obs
		if obs == nil {
			obs = defaultObs
		}
		obs.take()
		start := time.Now()
		got, pass, detail := s.run(ctx)
		elapsed := time.Since(start)
		roundTrips, violations := obs.take()
		if len(violations) > 0 {
			pass = false
			detail = strings.TrimSpace(detail + " " + strings.Join(violations, "; "))
		}
		r := result{Scenario: s.name, Auth: s.auth, Expected: s.expected, Got: got,
			RoundTrips: roundTrips, Duration: elapsed, Pass: pass, Detail: detail}
		cfg.log.Info("scenario", "name", r.Scenario, "auth", r.Auth, "got", r.Got, "pass", r.Pass)
		results = append(results, r)
	}
	return results
}

func ptr[T any](v T) *T { return &v }

// describe says what a call produced, for the GOT column. Errors from
// authedit carry no secrets.
func describe(resp *gen.DeleteOrgApiKeyResponse, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	if resp.JSON200 != nil {
		return fmt.Sprintf("200 {status: %d}", resp.JSON200.Status)
	}
	return strconv.Itoa(resp.StatusCode())
}

// expectStatus is the common scenario: one delete, one expected status, and
// an optional check of the decoded response.
func (h *harness) expectStatus(name, auth string, creds authedit.Credentials, org, key string,
	params *gen.DeleteOrgApiKeyParams, want int, check func(*gen.DeleteOrgApiKeyResponse) error) scenario {
	return scenario{name: name, auth: auth, expected: strconv.Itoa(want), run: func(ctx context.Context) (string, bool, string) {
		c, err := h.client(creds)
		if err != nil {
			return describe(nil, err), false, ""
		}
		resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, params)
		if err != nil || resp.StatusCode() != want {
			return describe(resp, err), false, ""
		}
		if err := typedBody(resp); err != nil {
			return describe(resp, nil), false, err.Error()
		}
		if check != nil {
			if err := check(resp); err != nil {
				return describe(resp, nil), false, err.Error()
			}
		}
		return describe(resp, nil), true, ""
	}}
}

// typedBody checks that the generated client decoded an error answer into
// the field for its status, with the fields every ApiError here carries.
func typedBody(resp *gen.DeleteOrgApiKeyResponse) error {
	var e *gen.ApiError
	switch resp.StatusCode() {
	case 204, 200:
		return nil
	case 400:
		e = resp.JSON400
	case 401:
		e = resp.JSON401
	case 403:
		e = resp.JSON403
	case 404:
		e = resp.JSON404
	case 429:
		e = resp.JSON429
	case 500:
		e = resp.JSON500
	}
	if e == nil {
		return fmt.Errorf("status %d was not decoded into its typed field", resp.StatusCode())
	}
	if int(e.Error) != resp.StatusCode() || e.ErrorCode == "" || e.Reason == nil || e.Detail == nil {
		return fmt.Errorf("ApiError %+v lacks error, errorCode, reason or detail", *e)
	}
	return nil
}

func indented(resp *gen.DeleteOrgApiKeyResponse) error {
	if !strings.Contains(string(resp.Body), "\n  \"") {
		return fmt.Errorf("pretty=true body is not indented: %q", resp.Body)
	}
	return nil
}

func (h *harness) deleteRemovesKey(auth string, creds authedit.Credentials, key string) scenario {
	projects := h.srv.KeyProjects(key)
	return h.expectStatus("delete removes the key from org and projects", auth, creds, h.srv.OrgID(), key, nil, 204,
		func(*gen.DeleteOrgApiKeyResponse) error {
			if len(projects) == 0 {
				return fmt.Errorf("key %s had no projects to leave", key)
			}
			if slices.Contains(h.srv.OrgKeys(h.srv.OrgID()), key) || len(h.srv.KeyProjects(key)) != 0 {
				return fmt.Errorf("key %s is still in its organization or projects", key)
			}
			return nil
		})
}

func (h *harness) wrongSecret(auth string, creds authedit.Credentials) scenario {
	return scenario{name: "wrong secret is refused", auth: auth, expected: "401", run: func(ctx context.Context) (string, bool, string) {
		c, err := h.client(creds)
		if err != nil {
			return describe(nil, err), false, ""
		}
		resp, err := c.DeleteOrgApiKeyWithResponse(ctx, h.srv.OrgID(), h.srv.Keys()[0], nil)
		var te *authedit.TokenError
		if errors.As(err, &te) { // service accounts fail at the token endpoint
			return fmt.Sprintf("%d (token endpoint)", te.StatusCode), te.StatusCode == 401, ""
		}
		if err != nil {
			return describe(nil, err), false, ""
		}
		if resp.StatusCode() != 401 {
			return describe(resp, nil), false, ""
		}
		if resp.Headers401 == nil || resp.Headers401.WWWAuthenticate == nil {
			return "401", false, "401 without a WWW-Authenticate challenge"
		}
		if err := typedBody(resp); err != nil {
			return "401", false, err.Error()
		}
		return "401", true, ""
	}}
}

func (h *harness) malformedID(auth string, creds authedit.Credentials) scenario {
	return scenario{name: "malformed id is refused before sending", auth: auth, expected: "ParamError apiUserId, 0 round trips",
		run: func(ctx context.Context) (string, bool, string) {
			c, err := h.client(creds)
			if err != nil {
				return describe(nil, err), false, ""
			}
			resp, err := c.DeleteOrgApiKeyWithResponse(ctx, h.srv.OrgID(), "../../groups/"+h.srv.Keys()[0], nil)
			var pe *authedit.ParamError
			if !errors.As(err, &pe) {
				return describe(resp, err), false, "want a *ParamError"
			}
			got := "ParamError " + pe.Name
			if trips, _ := h.obs.take(); trips != 0 {
				return fmt.Sprintf("%s after %d round trips", got, trips), false, ""
			}
			return got + ", 0 round trips", pe.Name == "apiUserId", ""
		}}
}

func (h *harness) envelope(auth string, creds authedit.Credentials, key string) scenario {
	s := h.expectStatus("envelope=true wraps the 204", auth, creds, h.srv.OrgID(), key,
		&gen.DeleteOrgApiKeyParams{Envelope: ptr(true)}, 200, func(resp *gen.DeleteOrgApiKeyResponse) error {
			if resp.JSON200 == nil || resp.JSON200.Status != 204 {
				return fmt.Errorf("envelope %s, want status 204", resp.Body)
			}
			if len(h.srv.KeyProjects(key)) != 0 {
				return fmt.Errorf("key %s survived an enveloped delete", key)
			}
			return nil
		})
	s.expected = "200 {status: 204}"
	return s
}

func (h *harness) injected500(auth string, creds authedit.Credentials, key string) scenario {
	s := h.expectStatus("injected 500 changes nothing", auth, creds, h.srv.OrgID(), key, nil, 500,
		func(*gen.DeleteOrgApiKeyResponse) error {
			if len(h.srv.KeyProjects(key)) == 0 {
				return fmt.Errorf("key %s was deleted by a request answered 500", key)
			}
			return nil
		})
	run := s.run
	s.run = func(ctx context.Context) (string, bool, string) {
		h.srv.FailNext(1, 500)
		defer h.srv.FailNext(0, 500)
		return run(ctx)
	}
	return s
}

// lostAnswer: the server answers 500, then applies the delete but drops the
// connection; the retry policy carries on to a 404, and Client.Remove
// reports the key as already removed rather than not found.
func (h *harness) lostAnswer(auth string, creds authedit.Credentials, key string) scenario {
	return scenario{name: "retry after a lost answer and a 500", auth: auth, expected: authedit.AlreadyRemoved.String(),
		run: func(ctx context.Context) (string, bool, string) {
			c, err := h.client(creds, authedit.WithRetry(authedit.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}))
			if err != nil {
				return describe(nil, err), false, ""
			}
			h.srv.FailNext(1, 500) // a FailNext answer comes before a drop
			h.srv.DropNext(1)
			defer h.srv.DropNext(0)
			outcome, err := c.Remove(ctx, h.srv.OrgID(), key)
			if err != nil {
				return outcome.String() + ": " + err.Error(), false, ""
			}
			if len(h.srv.KeyProjects(key)) != 0 {
				return outcome.String(), false, "key still assigned to projects"
			}
			return outcome.String(), outcome == authedit.AlreadyRemoved, ""
		}}
}

// rateLimited runs on a server of its own whose bucket holds one request and
// regains one a second, so the 429 comes from the real limiter.
func rateLimited(cfg config) scenario {
	obs := &observer{next: http.DefaultTransport, log: cfg.log}
	return scenario{name: "429, then success after Retry-After", auth: "digest", expected: "204, 429, 204", obs: obs,
		run: func(ctx context.Context) (string, bool, string) {
			srv := cfg.newServer(atlastest.WithRateLimit(1, 1, time.Second))
			defer srv.Close()
			c, err := authedit.NewClient(srv.URL, digestCreds(srv.Owner()), authedit.WithTransport(obs), authedit.WithTimeout(cfg.timeout), authedit.WithoutRetry())
			if err != nil {
				return describe(nil, err), false, ""
			}
			keys := srv.Keys()
			var got []string
			call := func(key string) *gen.DeleteOrgApiKeyResponse {
				resp, err := c.DeleteOrgApiKeyWithResponse(ctx, srv.OrgID(), key, nil)
				got = append(got, describe(resp, err))
				return resp
			}
			if first := call(keys[0]); first == nil || first.StatusCode() != 204 {
				return strings.Join(got, ", "), false, "first delete did not succeed"
			}
			second := call(keys[1])
			if second == nil || second.StatusCode() != 429 || second.Headers429 == nil || second.Headers429.RetryAfter == nil {
				return strings.Join(got, ", "), false, "second delete was not a 429 with Retry-After"
			}
			if err := typedBody(second); err != nil {
				return strings.Join(got, ", "), false, err.Error()
			}
			select {
			case <-time.After(time.Duration(*second.Headers429.RetryAfter) * time.Second):
			case <-ctx.Done():
				return strings.Join(got, ", "), false, "context ended while waiting for Retry-After"
			}
			third := call(keys[1])
			return strings.Join(got, ", "), third != nil && third.StatusCode() == 204, ""
		}}
}
