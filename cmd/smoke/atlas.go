package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// runAtlas checks a live service without changing it: an unauthenticated
// request must be challenged, and an authenticated delete of a random key id
// must be refused as Atlas refuses an absent key (or a non-owner). With
// -delete-key and -confirm it also deletes that one key; a key already gone
// is reported as not found, which is no failure. Every setup problem is
// reported at once, before anything is sent.
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
	obs := &observer{next: http.DefaultTransport, log: cfg.log}
	creds, err := authedit.CredentialsFromEnv(cfg.lookup)
	if err != nil {
		errs = append(errs, err)
		creds = authedit.APIKey{PublicKey: "unset", PrivateKey: "unset"} // still check the base URL below
	}
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
	if _, ok := creds.(authedit.ServiceAccount); cfg.tokenCache != "" && !ok {
		errs = append(errs, fmt.Errorf("-token-cache needs a service account: set %s and %s", authedit.EnvClientID, authedit.EnvClientSecret))
	}
	if len(errs) > 0 {
		return report{}, errors.Join(errs...)
	}
	if cfg.tokenCache != "" { // opened only now: a run refused for its settings changes nothing on disk
		dir := cfg.tokenCache
		if dir == "default" {
			dir = ""
		}
		store, err := authedit.NewFileTokenStore(dir)
		if err != nil {
			return report{}, fmt.Errorf("-token-cache: %w", err)
		}
		if client, err = authedit.NewClient(cfg.baseURL, creds, append(opts, authedit.WithTokenStore(store))...); err != nil {
			return report{}, err
		}
	}

	auth, target := "digest", "digest API key (MONGODB_ATLAS_PUBLIC_API_KEY)"
	if creds.Scheme() == "ServiceAccounts" {
		auth, target = "service-account", "service account (MONGODB_ATLAS_CLIENT_ID)"
	}
	if cfg.tokenCache != "" {
		target += ", token cache " + cfg.tokenCache
	}
	org := cfg.orgID
	scenarios := []scenario{
		unauthenticated(cfg.baseURL, org, obs),
		{name: "absent key (403 if not an owner)", auth: auth, retries: true, want: one(behavior.KeyNotFound), outcome: "not found or forbidden",
			run:   func(ctx context.Context) (string, error) { return says(client.Remove(ctx, org, randomID())) },
			check: lastIsOneOf(behavior.KeyNotFound, behavior.NotOwner)},
	}
	if cfg.deleteKey != "" {
		// Remove, so that a delete whose answer was lost and whose retry
		// found the key gone still counts as done.
		scenarios = append(scenarios, scenario{name: "delete " + cfg.deleteKey, auth: auth, retries: true,
			want: one(behavior.Removed), outcome: "removed or already removed or not found",
			run:   func(ctx context.Context) (string, error) { return says(client.Remove(ctx, org, cfg.deleteKey)) },
			check: lastIsOneOf(behavior.Removed, behavior.KeyNotFound)})
	}
	rep := report{
		Target:  fmt.Sprintf("%s, organization %s, auth %s", cfg.baseURL, org, target),
		Results: runScenarios(ctx, cfg, obs, scenarios),
	}
	if cfg.record != "" {
		switch c := creds.(type) {
		case authedit.APIKey:
			obs.learn(string(c.PrivateKey))
		case authedit.ServiceAccount:
			obs.learn(string(c.ClientSecret))
		}
		src := fmt.Sprintf("smoke -atlas against %s, auth %s", cfg.baseURL, auth)
		if err := writeRecords(cfg.record, obs.recorded, obs.secrets, []string{org, cfg.deleteKey}, src, time.Now()); err != nil {
			return rep, fmt.Errorf("-record: %w", err)
		}
	}
	return rep, nil
}

// lastIsOneOf accepts answers whose last one is Atlas's answer in one of
// the situations. Two leniencies, for Atlas as it is: a key-not-found may
// come as 404 with the same errorCode (the Atlas CLI and the Terraform
// provider read 400 and 404 alike), and a non-owner's answer is compared by
// status only, as its errorCode is ours (internal/behavior: evidence "ours").
func lastIsOneOf(situations ...behavior.Situation) func([]answer) error {
	return func(answers []answer) error {
		if len(answers) == 0 {
			return errors.New("no answer")
		}
		last := answers[len(answers)-1]
		var errs []string
		for _, s := range situations {
			want, _ := behavior.Lookup(s)
			err := last.is(s)
			if err == nil || (s == behavior.KeyNotFound && last.code == want.ErrorCode) ||
				(want.Evidence == behavior.Ours && last.status == want.Status) {
				return nil
			}
			errs = append(errs, err.Error())
		}
		return errors.New(strings.Join(errs, "; or "))
	}
}

// randomID is a well-formed key id that no real key is likely to have.
func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
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
