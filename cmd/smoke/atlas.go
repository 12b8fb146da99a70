package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// runAtlas checks a live service without changing it: an unauthenticated
// request must be challenged, and an authenticated delete of a random key id
// must be refused as not found (or forbidden for a non-owner). With
// -delete-key and -confirm it also deletes that one key.
func runAtlas(ctx context.Context, cfg config) ([]result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	obs := &observer{next: http.DefaultTransport, log: cfg.log}
	org := cfg.orgID
	if org == "" {
		return nil, errors.New("no organization: set -org or MONGODB_ATLAS_ORG_ID")
	}
	if err := contract.CheckParam("orgId", org); err != nil {
		return nil, err
	}
	if cfg.deleteKey != "" {
		if err := contract.CheckParam("apiUserId", cfg.deleteKey); err != nil {
			return nil, err
		}
	}
	creds, err := authedit.CredentialsFromEnv(cfg.lookup)
	if err != nil {
		return nil, err
	}
	client, err := authedit.NewClient(cfg.baseURL, creds, authedit.WithTransport(obs), authedit.WithTimeout(cfg.timeout))
	if err != nil {
		return nil, err
	}
	auth := "digest"
	if creds.Scheme() == "ServiceAccounts" {
		auth = "service-account"
	}

	scenarios := []scenario{
		unauthenticated(cfg, obs, org),
		{name: "delete of a random, absent key", auth: auth, expected: "404 (403 if not an owner)",
			run: func(ctx context.Context) (string, bool, string) {
				resp, err := client.DeleteOrgApiKeyWithResponse(ctx, org, randomID(), nil)
				if err != nil {
					return describe(nil, err), false, ""
				}
				if err := typedBody(resp); err != nil {
					return describe(resp, nil), false, err.Error()
				}
				return describe(resp, nil), resp.StatusCode() == 404 || resp.StatusCode() == 403, ""
			}},
	}
	if cfg.deleteKey != "" {
		// Remove, so that a delete whose answer was lost and whose retry
		// found the key gone still counts as done.
		scenarios = append(scenarios, scenario{name: "delete " + cfg.deleteKey + " (confirmed)", auth: auth, expected: "removed",
			run: func(ctx context.Context) (string, bool, string) {
				outcome, err := client.Remove(ctx, org, cfg.deleteKey)
				if err != nil {
					return outcome.String() + ": " + err.Error(), false, ""
				}
				return outcome.String(), outcome == authedit.Removed || outcome == authedit.AlreadyRemoved, ""
			}})
	}

	return runScenarios(ctx, cfg, obs, scenarios), nil
}

// randomID is a well-formed key id that no real key is likely to have.
func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func unauthenticated(cfg config, obs *observer, org string) scenario {
	return scenario{name: "unauthenticated request is challenged", auth: "none", expected: "401 + Digest challenge",
		run: func(ctx context.Context) (string, bool, string) {
			req, err := gen.NewDeleteOrgApiKeyRequest(cfg.baseURL, org, randomID(), nil)
			if err != nil {
				return "error: " + err.Error(), false, ""
			}
			req = req.WithContext(ctx)
			if err := authedit.SetAccept(ctx, req); err != nil {
				return "error: " + err.Error(), false, ""
			}
			resp, err := (&http.Client{Transport: obs, Timeout: cfg.timeout}).Do(req)
			if err != nil {
				return "error: " + err.Error(), false, ""
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			got := fmt.Sprint(resp.StatusCode)
			digest := false
			for _, v := range resp.Header.Values("WWW-Authenticate") {
				digest = digest || strings.HasPrefix(strings.ToLower(v), "digest ")
			}
			if resp.StatusCode != 401 || !digest {
				return got, false, "want 401 with a WWW-Authenticate: Digest challenge"
			}
			return got + " + Digest challenge", true, ""
		}}
}
