// Command smoke runs the deleteOrgApiKey contract end to end: a scenario
// matrix on an embedded reference server (atlastest) provoking every
// documented status with both authentication methods; -atlas, probes of real
// Atlas that delete nothing unless told to; `smoke serve`, the reference
// server alone. Expectations come from internal/behavior. See `smoke -h`.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, atlastest.NewServer)
	stop()
	os.Exit(code)
}

// Exit codes, as -h documents them.
const (
	exitPass  = 0 // every scenario passed
	exitFail  = 1 // a scenario failed
	exitUsage = 2 // bad usage or settings; nothing was sent
)

type config struct {
	atlas, confirm, json, insecureHTTP            bool
	baseURL, orgID, deleteKey, record, tokenCache string
	timeout                                       time.Duration
	log                                           *slog.Logger
	creds                                         authedit.Credentials // from the environment, with -atlas
	opts                                          []authedit.Option    // -atlas's client options: -insecure-http
	lookup                                        func(string) (string, bool)
	newServer                                     func(...atlastest.Option) *atlastest.Server // the local mode's servers
}

const usage = `Usage:
  smoke [flags]          scenario matrix against the embedded reference server (no network)
  smoke -atlas [flags]   non-destructive checks against real Atlas
  smoke serve [flags]    the reference server alone (see smoke serve -h)

Flags:
`

const help = `
Environment, with -atlas: MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET (a service account,
preferred) or MONGODB_ATLAS_PUBLIC_API_KEY and MONGODB_ATLAS_PRIVATE_API_KEY (an API key, HTTP Digest);
MONGODB_ATLAS_ORG_ID and MONGODB_ATLAS_OPS_MANAGER_URL, the defaults of -org and -base-url.
Report: EXPECTED and GOT show Atlas's answers (status and errorCode, or the statuses), then after → what
the client told its caller. RETRY (the client retrying failed attempts) is off in every local scenario
but the one about retrying, on for -atlas's authenticated calls; with RETRY off, a row with several
answers made its calls itself.
Exit status: 0 every scenario passed, 1 a scenario failed, 2 bad usage or settings (nothing sent); go run
reports every non-zero status as 1, so scripts should run a built binary. Secrets are never printed.
`

// run is main with its surroundings passed in; newServer makes the local
// mode's reference server (tests pass one that learns its secrets).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool),
	newServer func(...atlastest.Option) *atlastest.Server) int {
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr, config{lookup: lookup, newServer: newServer})
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	var rep report
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
		mode := runLocal
		if cfg.atlas {
			mode = runAtlas
		}
		rep, err = mode(ctx, cfg)
	}
	if len(rep.Results) > 0 { // printed even when -record failed after the run
		err = cmp.Or(err, rep.write(stdout, cfg.json))
	}
	if err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") { // one line per problem of an errors.Join
			fmt.Fprintln(stderr, "smoke:", line)
		}
		return exitUsage
	}
	return min(rep.Failed, exitFail) // exitPass when none failed
}

// parseFlags reports every mistake at once: usage, and with -atlas its settings.
func parseFlags(args []string, stderr io.Writer, cfg config) (config, error) {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults(); fmt.Fprint(stderr, help) }
	org, _ := cfg.lookup("MONGODB_ATLAS_ORG_ID")
	fs.BoolVar(&cfg.atlas, "atlas", false, "run against real Atlas (or -base-url) instead of the embedded reference server")
	fs.StringVar(&cfg.baseURL, "base-url", authedit.BaseURLFromEnv(cfg.lookup), "Atlas base URL, with -atlas")
	fs.BoolVar(&cfg.insecureHTTP, "insecure-http", false, "with -atlas: allow a plain-http -base-url to a host that is not loopback (credentials cross the network in clear)")
	fs.StringVar(&cfg.orgID, "org", org, "organization id, with -atlas")
	fs.StringVar(&cfg.deleteKey, "delete-key", "", "with -atlas and -confirm: really delete this API key id (a key already gone is reported as not found)")
	fs.BoolVar(&cfg.confirm, "confirm", false, "confirm -delete-key")
	fs.StringVar(&cfg.record, "record", "", "with -atlas: write every answer to the operation into this directory as testdata/atlas files (secrets and ids redacted)")
	fs.StringVar(&cfg.tokenCache, "token-cache", "", "with -atlas and a service account: reuse its token across runs through files in `DIR` (\"default\": in the user cache\n"+
		"directory), 0700 and 0600: readable by you and root only. They hold the token (a Bearer credential for up to an hour)\n"+
		"and its expiry, never the secret. rm -r DIR clears them")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "structured logs (log/slog) on stderr: each round trip's method, path and status")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "bound on the whole run, retries included")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.log = slog.New(slog.DiscardHandler)
	if *verbose {
		cfg.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	settingsErr := atlasSettings(&cfg)
	return cfg, errors.Join(
		check(fs.NArg() > 0, "unexpected arguments %q (see -h)", fs.Args()),
		check(!cfg.atlas && (cfg.deleteKey != "" || cfg.confirm || cfg.record != "" || cfg.insecureHTTP || cfg.tokenCache != ""),
			"-delete-key, -confirm, -record, -insecure-http and -token-cache only make sense with -atlas"),
		check(cfg.deleteKey != "" && !cfg.confirm, "refusing to delete key %s without -confirm", cfg.deleteKey),
		check(cfg.confirm && cfg.deleteKey == "", "-confirm needs -delete-key ID"),
		check(cfg.timeout <= 0, "-timeout must be positive"), settingsErr)
}

// atlasSettings checks -atlas's settings, sending and writing nothing, and
// sets cfg.creds and cfg.opts; nil without -atlas.
func atlasSettings(cfg *config) error {
	if !cfg.atlas {
		return nil
	}
	creds, credsErr := authedit.CredentialsFromEnv(cfg.lookup)
	cfg.creds = creds
	if cfg.insecureHTTP {
		cfg.opts = []authedit.Option{authedit.WithInsecureHTTP()}
	}
	_, err := authedit.NewClient(cfg.baseURL, creds, cfg.opts...) // checks the base URL before the credentials
	if ce, ok := errors.AsType[*authedit.CleartextError](err); ok {
		err = fmt.Errorf("-base-url %s is plain http to %s, which is not loopback: use https, or pass -insecure-http to send credentials in clear", cfg.baseURL, ce.Host)
	} else if errors.As(err, new(*authedit.CredentialsError)) {
		err = nil // credsErr says it
	}
	_, isAccount := creds.(authedit.ServiceAccount)
	orgErr, keyErr := contract.CheckParam("orgId", cfg.orgID), contract.CheckParam("apiUserId", cfg.deleteKey)
	return errors.Join(credsErr, err, check(cfg.orgID == "", "no organization: set -org or MONGODB_ATLAS_ORG_ID"),
		check(cfg.orgID != "" && orgErr != nil, "-org: %w", orgErr), check(cfg.deleteKey != "" && keyErr != nil, "-delete-key: %w", keyErr),
		check(cfg.tokenCache != "" && !isAccount, "-token-cache needs a service account: set MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET"))
}

// check is an error when bad, else nil (which errors.Join drops).
func check(bad bool, format string, args ...any) error {
	if bad {
		return fmt.Errorf(format, args...)
	}
	return nil
}

// runAtlas probes a live service without changing it: no credentials get a
// challenge; deleting a random key id gets Atlas's "no such key" (or 403 for
// a non-owner). -delete-key K -confirm deletes K; one already gone is "not
// found", no failure. parseFlags has checked the settings (atlasSettings).
func runAtlas(ctx context.Context, cfg config) (report, error) {
	obs := &observer{log: cfg.log}
	if cfg.record != "" {
		obs.base = recordingTransport()
	}
	opts := append(cfg.opts, authedit.WithTransport(obs), authedit.WithTimeout(cfg.timeout))
	_, isAccount := cfg.creds.(authedit.ServiceAccount)
	auth, target := "digest", "digest API key (MONGODB_ATLAS_PUBLIC_API_KEY)"
	if isAccount {
		auth, target = "service-account", "service account (MONGODB_ATLAS_CLIENT_ID)"
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
		opts = append(opts, authedit.WithTokenStore(store))
		target += ", token cache " + cfg.tokenCache
	}
	client, err := authedit.NewClient(cfg.baseURL, cfg.creds, opts...)
	if err != nil {
		return report{}, err
	}
	org := cfg.orgID
	remove := func(key string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) { return says(client.Remove(ctx, org, key)) }
	}
	scenarios := []scenario{unauthenticated(cfg.baseURL, org, obs), {Auth: auth, Retries: true,
		Name: "absent key (forbidden if not an owner)",
		want: one(behavior.KeyNotFound), or: behavior.NotOwner, outcome: "not found or forbidden", run: remove(randomID())}}
	if cfg.deleteKey != "" { // Remove counts a delete whose answer was lost and whose retry found no key as done
		scenarios = append(scenarios, scenario{Name: "delete " + cfg.deleteKey, Auth: auth, Retries: true, want: one(behavior.Removed),
			or: behavior.KeyNotFound, outcome: "removed or already removed or not found", run: remove(cfg.deleteKey)})
	}
	rep := report{Target: fmt.Sprintf("%s, organization %s, auth %s", cfg.baseURL, org, target), Results: runScenarios(ctx, obs, scenarios)}
	if cfg.record != "" {
		secrets := obs.secrets // each Authorization sent, so each token; and the secret, in case the server echoes it
		for _, name := range []string{"MONGODB_ATLAS_CLIENT_SECRET", "MONGODB_ATLAS_PRIVATE_API_KEY"} {
			v, _ := cfg.lookup(name)
			secrets = append(secrets, v)
		}
		source := fmt.Sprintf("smoke -atlas against %s, auth %s", cfg.baseURL, auth)
		err := writeRecords(cfg.record, obs.answers, secrets, obs.ids, source, time.Now())
		if err != nil {
			return rep, fmt.Errorf("-record: %w", err)
		}
	}
	return rep, nil
}

// randomID is a well-formed key id that no real key is likely to have.
func randomID() string { return fmt.Sprintf("%08x%016x", rand.Uint32(), rand.Uint64()) }

// unauthenticated sends no credentials: Atlas answers one Digest challenge.
func unauthenticated(baseURL, org string, obs *observer) scenario {
	return scenario{Name: "no credentials: challenged", Auth: "none", want: one(behavior.Unauthenticated), outcome: "Digest",
		run: func(ctx context.Context) (string, error) {
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
		}}
}

// unknownOrg is a well-formed organization id the reference server does not hold.
const unknownOrg = "0123456789abcdef01234567"

func runLocal(ctx context.Context, cfg config) (report, error) {
	srv := cfg.newServer(atlastest.WithSeedKeys(5))
	defer srv.Close()
	obs := &observer{log: cfg.log}
	target := fmt.Sprintf("embedded reference server %s, organization %s, auth digest and service account", srv.URL, srv.OrgID())
	return report{Target: target, Results: runScenarios(ctx, obs, matrix(cfg, srv, obs))}, nil
}

// call is what a local scenario does with its client.
type call = func(context.Context, *authedit.Client) (said string, err error)

// matrix provokes every documented status (TestMatrixCoversDocumentedStatuses)
// with both authentication methods.
func matrix(cfg config, srv *atlastest.Server, obs *observer) []scenario {
	org, keys := srv.OrgID(), srv.Keys()
	kept := keys[len(keys)-1] // never deleted
	// left checks that kept is there, and gone (if any) deleted and out of its projects.
	left := func(gone string) func() error {
		had := len(srv.KeyProjects(gone))
		return func() error {
			notGone := gone != "" && (had == 0 || srv.HasKey(gone) || len(srv.KeyProjects(gone)) != 0)
			return errors.Join(check(!srv.HasKey(kept), "key %s was deleted", kept),
				check(notGone, "key %s had no projects, or is still in its organization or projects", gone))
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
	// again removes key after a scripted 429, then calls again: RETRY is off,
	// so the scenario retries, as a caller honouring Retry-After would.
	again := func(key string) call {
		return func(ctx context.Context, c *authedit.Client) (string, error) {
			srv.FailNext(1, http.StatusTooManyRequests)
			if said, err := says(c.Remove(ctx, org, key)); said != "rate limited" {
				return said, fmt.Errorf("first call: want a 429: %w", err)
			}
			return says(c.Remove(ctx, org, key))
		}
	}
	// raw calls with flags Remove does not offer; it says what the body showed.
	raw := func(key string, p *gen.DeleteOrgApiKeyParams, editors ...gen.RequestEditorFn) call {
		return func(ctx context.Context, c *authedit.Client) (string, error) {
			resp, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, p, editors...)
			switch {
			case err != nil:
				return "", err
			case resp.JSON200 != nil:
				return fmt.Sprintf("{status: %d}", resp.JSON200.Status), nil
			case strings.Contains(string(resp.Body), "\n  \""):
				return "indented", nil
			}
			return "", nil
		}
	}
	unversioned := func(_ context.Context, r *http.Request) error { r.Header.Set("Accept", "application/json"); return nil }
	noTrips := func() error { trips, _, _ := obs.seen(); return check(trips != 0, "%d round trips", trips) }
	scenarios := []scenario{unauthenticated(srv.URL, org, obs)}
	for i, auth := range []string{"digest", "service-account"} {
		row := func(s scenario, who atlastest.Principal, c call) scenario { // with a new client for who
			s.Auth = auth
			if s.after == nil {
				s.after = left("")
			}
			// Retries are off, so that each answer is the one the scenario provokes, or on with no wait.
			retry := authedit.WithoutRetry()
			if s.Retries {
				retry = authedit.WithRetry(authedit.RetryPolicy{MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond})
			}
			s.run = func(ctx context.Context) (string, error) {
				creds := []authedit.Credentials{who.APIKey(), who.ServiceAccount()}[i]
				client, err := authedit.NewClient(srv.URL, creds, authedit.WithTransport(obs), authedit.WithTimeout(cfg.timeout), retry)
				if err != nil {
					return "", err
				}
				return c(ctx, client)
			}
			return s
		}
		owner, wrong := srv.Owner(), srv.Owner()
		wrong.PrivateKey, wrong.ClientSecret = "not-the-private-key", "not-the-client-secret"
		refused := scenario{Name: "wrong secret is refused", want: one(behavior.Unauthenticated), outcome: "refused"}
		if i == 1 { // refused at the token endpoint, before the operation
			refused.want, refused.outcome = nil, "token endpoint 401 → refused"
		}
		removed, enveloped, lost := keys[3*i], keys[3*i+1], keys[3*i+2]
		scenarios = append(scenarios,
			row(scenario{Name: "delete removes key from its projects", want: one(behavior.Removed), outcome: "removed", after: left(removed)},
				owner, remove(org, removed, 0, 0)),
			row(scenario{Name: "delete the same key again", want: one(behavior.KeyNotFound), outcome: "not found"}, owner, remove(org, removed, 0, 0)),
			row(scenario{Name: "pretty=true indents the error", want: one(behavior.KeyNotFound), outcome: "indented"}, owner,
				raw(removed, &gen.DeleteOrgApiKeyParams{Pretty: new(true)})),
			row(scenario{Name: "unknown organization", want: one(behavior.OrgNotFound), outcome: "org not found"}, owner, remove(unknownOrg, kept, 0, 0)),
			row(refused, wrong, remove(org, kept, 0, 0)),
			row(scenario{Name: "non-owner is forbidden", want: one(behavior.NotOwner), outcome: "forbidden"}, srv.Member(), remove(org, kept, 0, 0)),
			row(scenario{Name: "unversioned Accept is refused", want: one(behavior.InvalidVersion)}, owner, raw(kept, nil, unversioned)),
			row(scenario{Name: "malformed id: refused before sending", outcome: "ParamError apiUserId", after: noTrips}, owner,
				remove(org, "../../groups/"+kept, 0, 0)),
			row(scenario{Name: "envelope=true wraps the 204", want: one(behavior.Enveloped), outcome: "{status: 204}", after: left(enveloped)}, owner,
				raw(enveloped, &gen.DeleteOrgApiKeyParams{Envelope: new(true)})),
			row(scenario{Name: "injected 500 changes nothing", want: one(behavior.ServerError), outcome: "server error"}, owner, remove(org, kept, 1, 0)),
			row(scenario{Name: "429, then 204 when called again", outcome: "removed",
				want: []behavior.Situation{behavior.RateLimited, behavior.Removed}},
				owner, again(keys[6+i])),
			// The delete applies, its answer is lost, the retry finds no key: already removed.
			row(scenario{Name: "retry after a 500 and a lost answer", Retries: true, want: []behavior.Situation{behavior.ServerError, behavior.KeyNotFound},
				outcome: authedit.AlreadyRemoved.String(), after: left(lost)}, owner, remove(org, lost, 1, 1)),
		)
	}
	return scenarios
}
