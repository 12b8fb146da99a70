package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// runAtlas probes a live service without changing it: a request with no
// credentials must be challenged, and deleting a random key id must be
// refused as Atlas refuses an absent key (or a non-owner). With -delete-key
// and -confirm it deletes that key; one already gone is "not found", no
// failure. Every setup problem is reported at once, before anything is sent.
func runAtlas(ctx context.Context, cfg config) (report, error) {
	var errs []error
	if cfg.orgID == "" {
		errs = append(errs, errors.New("no organization: set -org or MONGODB_ATLAS_ORG_ID"))
	} else if err := contract.CheckParam("orgId", cfg.orgID); err != nil {
		errs = append(errs, fmt.Errorf("-org: %w", err))
	}
	if cfg.deleteKey != "" {
		if err := contract.CheckParam("apiUserId", cfg.deleteKey); err != nil {
			errs = append(errs, fmt.Errorf("-delete-key: %w", err))
		}
	}
	creds, err := authedit.CredentialsFromEnv(cfg.lookup)
	if err != nil {
		errs = append(errs, err)
		creds = authedit.APIKey{PublicKey: "unset", PrivateKey: "unset"} // still check the base URL below
	}
	account, isAccount := creds.(authedit.ServiceAccount)
	if cfg.tokenCache != "" && !isAccount {
		errs = append(errs, fmt.Errorf("-token-cache needs a service account: set %s and %s", authedit.EnvClientID, authedit.EnvClientSecret))
	}
	obs := &observer{log: cfg.log}
	opts := []authedit.Option{authedit.WithTransport(obs), authedit.WithTimeout(cfg.timeout)}
	if cfg.insecureHTTP {
		opts = append(opts, authedit.WithInsecureHTTP())
	}
	client, err := authedit.NewClient(cfg.baseURL, creds, opts...)
	if ce := (*authedit.CleartextError)(nil); errors.As(err, &ce) {
		err = fmt.Errorf("-base-url %s is plain http to %s, which is not loopback: use https, or pass -insecure-http to send credentials in clear", cfg.baseURL, ce.Host)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return report{}, errors.Join(errs...)
	}
	auth, target := "digest", "digest API key ("+authedit.EnvPublicKey+")"
	if isAccount {
		auth, target = "service-account", "service account ("+authedit.EnvClientID+")"
	}
	if cfg.tokenCache != "" { // opened only now: a run refused for its settings changes nothing on disk
		dir := cfg.tokenCache
		if dir == "default" {
			dir = "" // NewFileTokenStore's default, under os.UserCacheDir
		}
		store, err := authedit.NewFileTokenStore(dir)
		if err != nil {
			return report{}, fmt.Errorf("-token-cache: %w", err)
		}
		if client, err = authedit.NewClient(cfg.baseURL, creds, append(opts, authedit.WithTokenStore(store))...); err != nil {
			return report{}, err
		}
		target += ", token cache " + cfg.tokenCache
	}

	org := cfg.orgID
	remove := func(key string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) { return says(client.Remove(ctx, org, key)) }
	}
	scenarios := []scenario{unauthenticated(cfg.baseURL, org, obs), {name: "absent key (403 if not an owner)", auth: auth, retries: true,
		want: one(behavior.KeyNotFound), or: behavior.NotOwner, outcome: "not found or forbidden", run: remove(randomID())}}
	if cfg.deleteKey != "" { // Remove counts a delete whose answer was lost and whose retry found no key as done
		scenarios = append(scenarios, scenario{name: "delete " + cfg.deleteKey, auth: auth, retries: true, want: one(behavior.Removed),
			or: behavior.KeyNotFound, outcome: "removed or already removed or not found", run: remove(cfg.deleteKey)})
	}
	rep := report{Target: fmt.Sprintf("%s, organization %s, auth %s", cfg.baseURL, org, target), Results: runScenarios(ctx, cfg, obs, scenarios)}
	if cfg.record != "" {
		secret := string(account.ClientSecret)
		if key, ok := creds.(authedit.APIKey); ok {
			secret = string(key.PrivateKey)
		}
		source := fmt.Sprintf("smoke -atlas against %s, auth %s", cfg.baseURL, auth)
		if err := writeRecords(cfg.record, obs, append(obs.secrets, secret), org, cfg.deleteKey, source, time.Now()); err != nil {
			return rep, fmt.Errorf("-record: %w", err)
		}
	}
	return rep, nil
}

// randomID is a well-formed key id that no real key is likely to have.
func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// unauthenticated sends the operation with no credentials: Atlas answers
// with one Digest challenge.
func unauthenticated(baseURL, org string, obs *observer) scenario {
	s := scenario{name: "no credentials: challenged", auth: "none", want: one(behavior.Unauthenticated), outcome: "Digest"}
	s.run = func(ctx context.Context) (string, error) {
		req, err := gen.NewDeleteOrgApiKeyRequest(baseURL, org, randomID(), nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Accept", contract.AcceptHeader())
		resp, err := (&http.Client{Transport: obs}).Do(req.WithContext(ctx))
		if err != nil {
			return "", err
		}
		_ = resp.Body.Close()
		if ch := resp.Header.Values(behavior.WWWAuthenticate); len(ch) != 1 || !strings.HasPrefix(strings.ToLower(ch[0]), "digest ") {
			return "", fmt.Errorf("challenges %q, want one Digest challenge", ch)
		}
		return "Digest", nil
	}
	return s
}

// writeRecords writes each answer to the operation into dir in the format
// of testdata/atlas (see its README), named after its situation
// ("key-not-found.http", then "key-not-found-2.http"), so that recording
// into testdata/atlas refreshes the evidence. Every secret given (the private
// key or client secret, each Authorization value sent, so each token) is
// redacted wherever it appears, cookies are dropped, and the organization
// and deleted key ids become the spec's example ids. Nonces stay: they are
// no secret, and the challenge is evidence.
func writeRecords(dir string, obs *observer, secrets []string, org, key, source string, now time.Time) error {
	var pairs []string
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) }) // longest first
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	params := contract.MustLoad().Op.Parameters
	for name, id := range map[string]string{"orgId": org, "apiUserId": key} {
		if id != "" {
			pairs = append(pairs, id, fmt.Sprint(params.GetByInAndName("path", name).Schema.Value.Example))
		}
	}
	redact := strings.NewReplacer(pairs...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	written := map[behavior.Situation]int{}
	for _, a := range obs.recorded {
		s := situationOf(a)
		written[s]++
		name := string(s) + ".http"
		if written[s] > 1 {
			name = fmt.Sprintf("%s-%d.http", s, written[s])
		}
		var b strings.Builder
		fmt.Fprintf(&b, "HTTP/1.1 %d %s\nEvidence-Situation: %s\nEvidence-Source: %s\nEvidence-Date: %s\n",
			a.status, http.StatusText(a.status), s, redact.Replace(source), now.UTC().Format(time.DateOnly))
		for _, k := range slices.Sorted(maps.Keys(a.header)) {
			if k == "Set-Cookie" || k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" || k == "Keep-Alive" {
				continue // a secret, or framing the redaction would make wrong
			}
			for _, v := range a.header[k] {
				fmt.Fprintf(&b, "%s: %s\n", k, redact.Replace(v))
			}
		}
		b.WriteString("\n" + redact.Replace(string(a.body)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// situationOf names the situation of internal/behavior's table an answer
// shows: by status and errorCode, else by errorCode within the status class
// (a 404 API_KEY_NOT_FOUND), else by status; else "unclassified-<status>",
// for a maintainer to look at (TestRecordedAnswers refuses it).
func situationOf(a answer) behavior.Situation {
	if s, ok := behavior.ByErrorCode(a.status, a.code); ok {
		return s
	}
	for _, w := range behavior.Table() {
		if a.code != "" && a.code == w.ErrorCode && a.status/100 == w.Status/100 {
			return w.Situation
		}
	}
	for _, w := range behavior.Table() {
		if w.Status == a.status {
			return w.Situation
		}
	}
	return behavior.Situation(fmt.Sprintf("unclassified-%d", a.status))
}
