// Command smoke runs the operation's contract end to end.
//
// By default it runs a matrix of scenarios against an embedded reference
// server (package atlastest). The matrix provokes every status the spec
// documents, with an API key and with a service account.
// With -atlas, it probes real Atlas, and deletes nothing unless told to.
// "smoke serve" runs the reference server alone, for tests in any language.
// What each answer must be comes from internal/behavior. See smoke -h.
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
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/atlascontract/deleteorgapikey"
	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/authedit"
	"github.com/atlascontract/deleteorgapikey/gen"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// main runs smoke with the process's arguments, streams and environment.
// SIGINT and SIGTERM end the run, or stop serve.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// Exit codes, as -h documents them.
const (
	exitPass  = 0 // every scenario passed
	exitFail  = 1 // a scenario failed
	exitUsage = 2 // bad usage or settings; nothing was sent
)

// config is what the flags and the environment say.
type config struct {
	atlas, confirm, json, insecureHTTP            bool
	baseURL, orgID, deleteKey, record, tokenCache string
	timeout                                       time.Duration
	log                                           *slog.Logger         // -v's; nil: none
	creds                                         authedit.Credentials // -atlas's
	lookup                                        func(string) (string, bool)
}

// usage is what -h prints before the flags.
const usage = `Usage:
  smoke [flags]          scenario matrix against the embedded reference server (no network)
  smoke -atlas [flags]   non-destructive checks against real Atlas
  smoke serve [flags]    the reference server alone (see smoke serve -h)

Flags:
`

// help is printed after the flags.
const help = `
Environment, with -atlas: MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET (a service
account, preferred) or MONGODB_ATLAS_PUBLIC_API_KEY and MONGODB_ATLAS_PRIVATE_API_KEY (an API
key, HTTP Digest); MONGODB_ATLAS_ORG_ID and MONGODB_ATLAS_OPS_MANAGER_URL, the defaults of -org
and -base-url.
Report: EXPECTED and GOT show Atlas's answers (status and errorCode, or the statuses), then
after → what the client told its caller. RETRY says whether the client retries failed
attempts: off in every local scenario but one, on for -atlas's authenticated calls. With
RETRY off, a row with several answers made its calls itself.
Exit status: 0 every scenario passed, 1 a scenario failed, 2 bad usage or settings (nothing
sent). go run reports every non-zero status as 1, so scripts should run a built binary.
Secrets are never printed.
`

// run is main with its surroundings passed in.
func run(ctx context.Context, args []string, stdout, stderr io.Writer,
	lookup func(string) (string, bool)) int {
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr, config{lookup: lookup})
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
		return usageError(stderr, "smoke", err)
	}
	return min(rep.Failed, exitFail)
}

// usageError prints err, one line per problem that errors.Join joined.
func usageError(stderr io.Writer, prog string, err error) int {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(stderr, "%s: %s\n", prog, line)
	}
	return exitUsage
}

// parseFlags reports every mistake at once: usage, and with -atlas its
// settings.
func parseFlags(args []string, stderr io.Writer, cfg config) (config, error) {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, help)
	}
	org, _ := cfg.lookup("MONGODB_ATLAS_ORG_ID")
	fs.BoolVar(&cfg.atlas, "atlas", false,
		"run against real Atlas (or -base-url) instead of the embedded reference server")
	fs.StringVar(&cfg.baseURL, "base-url", authedit.BaseURLFromEnv(cfg.lookup),
		"Atlas base URL, with -atlas")
	fs.BoolVar(&cfg.insecureHTTP, "insecure-http", false, "with -atlas: allow a plain-http "+
		"-base-url to a host that is not loopback (credentials cross the network in clear)")
	fs.StringVar(&cfg.orgID, "org", org, "organization id, with -atlas")
	fs.StringVar(&cfg.deleteKey, "delete-key", "", "with -atlas and -confirm: really delete "+
		"this API key id (a key already gone is reported as not found)")
	fs.BoolVar(&cfg.confirm, "confirm", false, "confirm -delete-key")
	fs.StringVar(&cfg.record, "record", "", "with -atlas: write every answer to the operation "+
		"into this directory as testdata/atlas files (secrets and ids redacted)")
	fs.StringVar(&cfg.tokenCache, "token-cache", "", "with -atlas and a service account: "+
		"share its token across runs through files in `DIR`, or in the user cache directory\n"+
		"with \"default\". The files hold the token, never the secret; rm -r DIR clears them.")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "log each round trip's method, path and status to stderr "+
		"(log/slog; never a header, as headers carry credentials)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *verbose {
		cfg.log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	atlasOnly := cfg.deleteKey != "" || cfg.confirm || cfg.record != "" || cfg.insecureHTTP ||
		cfg.tokenCache != ""
	return cfg, errors.Join(
		check(fs.NArg() > 0, "unexpected arguments %q (see -h)", fs.Args()),
		check(!cfg.atlas && atlasOnly, "-delete-key, -confirm, -record, -insecure-http and "+
			"-token-cache only make sense with -atlas"),
		check(cfg.deleteKey != "" && !cfg.confirm,
			"refusing to delete key %s without -confirm", cfg.deleteKey),
		check(cfg.confirm && cfg.deleteKey == "", "-confirm needs -delete-key ID"),
		check(cfg.timeout <= 0, "-timeout must be positive"),
		atlasSettings(&cfg))
}

// atlasSettings checks -atlas's settings, sending and writing nothing, and
// sets cfg.creds. Without -atlas it returns nil.
func atlasSettings(cfg *config) error {
	if !cfg.atlas {
		return nil
	}
	creds, credsErr := authedit.CredentialsFromEnv(cfg.lookup)
	cfg.creds = creds
	// Stand-in credentials, so that the base URL is checked whatever creds are.
	_, err := newClient(*cfg, cfg.baseURL, authedit.APIKey{PublicKey: "-", PrivateKey: "-"}, nil)
	if ce, ok := errors.AsType[*authedit.CleartextError](err); ok {
		err = fmt.Errorf("-base-url %s is plain http to %s, which is not loopback: use https, "+
			"or pass -insecure-http to send credentials in clear", cfg.baseURL, ce.Host)
	}
	_, isAccount := creds.(authedit.ServiceAccount)
	orgErr := contract.CheckParam("orgId", cfg.orgID)
	keyErr := contract.CheckParam("apiUserId", cfg.deleteKey)
	return errors.Join(credsErr, err,
		check(cfg.orgID == "", "no organization: set -org or MONGODB_ATLAS_ORG_ID"),
		check(cfg.orgID != "" && orgErr != nil, "-org: %w", orgErr),
		check(cfg.deleteKey != "" && keyErr != nil, "-delete-key: %w", keyErr),
		check(cfg.tokenCache != "" && !isAccount, "-token-cache needs a service account: "+
			"set MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET"))
}

// check returns an error when bad is true, else nil, which errors.Join drops.
func check(bad bool, format string, args ...any) error {
	if bad {
		return fmt.Errorf(format, args...)
	}
	return nil
}

// newClient returns a client for creds that sends through obs and gives
// each call cfg.timeout.
func newClient(cfg config, baseURL string, creds authedit.Credentials, obs *observer,
	opts ...deleteorgapikey.Option) (*deleteorgapikey.Client, error) {
	opts = append(opts, deleteorgapikey.WithTimeout(cfg.timeout))
	if obs != nil {
		opts = append(opts, deleteorgapikey.WithTransport(obs))
	}
	if cfg.insecureHTTP {
		opts = append(opts, deleteorgapikey.WithInsecureHTTP())
	}
	return deleteorgapikey.NewClient(baseURL, creds, opts...)
}

// runAtlas probes a live service without changing it. A request without
// credentials must get a challenge. Deleting a random key id must get
// Atlas's "no such key", or its "not an owner" for credentials without the
// role. -delete-key K -confirm deletes K; a K already gone is no failure.
// parseFlags has checked the settings.
func runAtlas(ctx context.Context, cfg config) (report, error) {
	obs := &observer{log: cfg.log}
	if cfg.record != "" {
		obs.base = recordingTransport()
	}
	auth, target := "digest", "digest API key (MONGODB_ATLAS_PUBLIC_API_KEY)"
	if _, ok := cfg.creds.(authedit.ServiceAccount); ok {
		auth, target = "service-account", "service account (MONGODB_ATLAS_CLIENT_ID)"
	}
	var opts []deleteorgapikey.Option
	if cfg.tokenCache != "" { // opened only now: a refused run changes nothing on disk
		store, err := tokenStore(cfg.tokenCache)
		if err != nil {
			return report{}, fmt.Errorf("-token-cache: %w", err)
		}
		opts = append(opts, deleteorgapikey.WithTokenStore(store))
		target += ", token cache " + cfg.tokenCache
	}
	client, err := newClient(cfg, cfg.baseURL, cfg.creds, obs, opts...)
	if err != nil {
		return report{}, err
	}
	remove := func(keyID string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			return says(client.Remove(ctx, cfg.orgID, keyID))
		}
	}
	scenarios := []scenario{challenged(obs, cfg.baseURL, cfg.orgID), {
		Name: "absent key: not found, or not an owner", Auth: auth, Retries: true,
		want: one(behavior.KeyNotFound), or: behavior.NotOwner,
		outcome: "not found or not an owner", run: remove(randomID()),
	}}
	if cfg.deleteKey != "" {
		// A delete whose answer was lost, and whose retry found no key, is
		// already removed.
		scenarios = append(scenarios, scenario{
			Name: "delete " + cfg.deleteKey, Auth: auth, Retries: true,
			want: one(behavior.Removed), or: behavior.KeyNotFound,
			outcome: "removed or already removed or not found", run: remove(cfg.deleteKey),
		})
	}
	rep := report{
		Target:  fmt.Sprintf("%s, organization %s, auth %s", cfg.baseURL, cfg.orgID, target),
		Results: runScenarios(ctx, obs, cfg.baseURL, scenarios),
	}
	if cfg.record == "" {
		return rep, nil
	}
	secrets := obs.secrets // every Authorization sent; the secrets, in case an answer echoes them
	for _, name := range []string{"MONGODB_ATLAS_CLIENT_SECRET", "MONGODB_ATLAS_PRIVATE_API_KEY"} {
		v, _ := cfg.lookup(name)
		secrets = append(secrets, v)
	}
	source := fmt.Sprintf("smoke -atlas against %s, auth %s", cfg.baseURL, auth)
	err = writeRecords(cfg.record, obs.answers, secrets, obs.ids, source, time.Now())
	if err != nil {
		return rep, fmt.Errorf("-record: %w", err)
	}
	return rep, nil
}

// tokenStore opens the store -token-cache names: "default" is the store's
// own directory, and a relative directory is taken from the current one.
func tokenStore(dir string) (*authedit.FileTokenStore, error) {
	if dir == "default" {
		return authedit.NewFileTokenStore("")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return authedit.NewFileTokenStore(abs)
}

// randomID is a well-formed key id that no real key is likely to have.
func randomID() string { return fmt.Sprintf("%08x%016x", rand.Uint32(), rand.Uint64()) }

// challenged sends a delete without credentials. It says the scheme of
// each challenge: Atlas sends one, Digest.
func challenged(obs *observer, baseURL, orgID string) scenario {
	return scenario{Name: "no credentials: challenged", Auth: "none",
		want: one(behavior.Unauthenticated), outcome: "Digest",
		run: func(ctx context.Context) (string, error) {
			req, err := gen.NewDeleteOrgApiKeyRequest(baseURL, orgID, randomID(), nil)
			if err != nil {
				return "", err
			}
			req.Header.Set("Accept", contract.AcceptHeader())
			res, err := (&http.Client{Transport: obs}).Do(req.WithContext(ctx))
			if err != nil {
				return "", err
			}
			_ = res.Body.Close()
			var schemes []string
			for _, c := range res.Header.Values(behavior.WWWAuthenticate) {
				scheme, _, _ := strings.Cut(c, " ")
				schemes = append(schemes, scheme)
			}
			return strings.Join(schemes, ", "), nil
		}}
}

// unknownOrg is a well-formed organization id the reference server does not
// hold.
const unknownOrg = "0123456789abcdef01234567"

// runLocal runs the matrix against a new reference server.
func runLocal(ctx context.Context, cfg config) (report, error) {
	srv := atlastest.NewServer()
	defer srv.Close()
	obs := &observer{log: cfg.log}
	return report{
		Target: fmt.Sprintf("embedded reference server %s, organization %s, "+
			"auth digest and service account", srv.URL, srv.OrgID()),
		Results: runScenarios(ctx, obs, srv.URL, matrix(cfg, srv, obs)),
	}, nil
}

// call is what a local scenario does with its client. It says what the
// client told it.
type call = func(context.Context, *deleteorgapikey.Client) (said string, err error)

// matrix provokes every status the spec documents, with both authentication
// methods. TestMatrixCoversDocumentedStatuses holds it to the spec.
func matrix(cfg config, srv *atlastest.Server, obs *observer) []scenario {
	org, kept := srv.OrgID(), srv.AddKey() // kept is never deleted
	// left checks that kept is there and that gone, if any, is not.
	left := func(gone string) func() error {
		return func() error {
			return errors.Join(check(!srv.HasKey(kept), "key %s was deleted", kept),
				check(gone != "" && srv.HasKey(gone), "key %s is still there", gone))
		}
	}
	// remove calls Remove after scripting a fault: an answer with status,
	// if not 0, then drop lost answers.
	remove := func(org, key string, status, drop int) call {
		return func(ctx context.Context, c *deleteorgapikey.Client) (string, error) {
			if status != 0 {
				srv.FailNext(1, status)
			}
			srv.DropNext(drop)
			return says(c.Remove(ctx, org, key))
		}
	}
	// raw calls with what Remove does not offer: a flag, or a request
	// editor. It says what an envelope held.
	raw := func(key string, p *gen.DeleteOrgApiKeyParams, edit ...gen.RequestEditorFn) call {
		return func(ctx context.Context, c *deleteorgapikey.Client) (string, error) {
			res, err := c.DeleteOrgApiKeyWithResponse(ctx, org, key, p, edit...)
			if err != nil || res.JSON200 == nil {
				return "", err
			}
			return fmt.Sprintf("{status: %d}", res.JSON200.Status), nil
		}
	}
	unversioned := func(_ context.Context, r *http.Request) error {
		r.Header.Set("Accept", "application/json")
		return nil
	}
	// upper sends kept in upper case, past the client's check of the ids.
	upper := func(_ context.Context, r *http.Request) error {
		r.URL.Path = strings.Replace(r.URL.Path, kept, strings.ToUpper(kept), 1)
		return nil
	}
	// elsewhere makes the owner's requests come from an IP address that its
	// access list does not hold.
	elsewhere := func(c call) call {
		return func(ctx context.Context, client *deleteorgapikey.Client) (string, error) {
			srv.SetAccessList(srv.Owner(), "192.0.2.1")
			defer srv.SetAccessList(srv.Owner())
			return c(ctx, client)
		}
	}
	scenarios := []scenario{challenged(obs, srv.URL, org)}
	for i, auth := range []string{"digest", "service-account"} {
		// row runs c with a new client for who. Retries are off, so that
		// each answer is the one the scenario provokes, or on with no wait.
		row := func(s scenario, who atlastest.Principal, c call) scenario {
			s.Auth = auth
			if s.after == nil {
				s.after = left("")
			}
			retry := deleteorgapikey.RetryPolicy{MaxAttempts: 1}
			if s.Retries {
				retry = deleteorgapikey.RetryPolicy{MinBackoff: 1, MaxBackoff: 1}
			}
			s.run = func(ctx context.Context) (string, error) {
				creds := []authedit.Credentials{who.APIKey(), who.ServiceAccount()}[i]
				client, err := newClient(cfg, srv.URL, creds, obs, deleteorgapikey.WithRetry(retry))
				if err != nil {
					return "", err
				}
				return c(ctx, client)
			}
			return s
		}
		owner, wrong := srv.Owner(), srv.Owner()
		wrong.PrivateKey, wrong.ClientSecret = "not-the-private-key", "not-the-client-secret"
		refused := scenario{Name: "wrong secret is refused",
			want: one(behavior.Unauthenticated), outcome: "refused"}
		if i == 1 { // refused at the token endpoint, before the operation
			refused.want, refused.outcome = nil, "token endpoint 401 → refused"
		}
		removed, enveloped, lost := srv.AddKey(), srv.AddKey(), srv.AddKey()
		scenarios = append(scenarios,
			row(scenario{Name: "delete removes the key",
				want: one(behavior.Removed), outcome: "removed", after: left(removed)},
				owner, remove(org, removed, 0, 0)),
			row(scenario{Name: "delete the same key again",
				want: one(behavior.KeyNotFound), outcome: "not found"},
				owner, remove(org, removed, 0, 0)),
			row(scenario{Name: "unknown organization",
				want: one(behavior.OrgNotFound), outcome: "org not found"},
				owner, remove(unknownOrg, kept, 0, 0)),
			row(refused, wrong, remove(org, kept, 0, 0)),
			row(scenario{Name: "member is not an owner",
				want: one(behavior.NotOwner), outcome: "not an owner"},
				srv.Member(), remove(org, kept, 0, 0)),
			row(scenario{Name: "IP address not on the access list",
				want: one(behavior.IPNotAllowed), outcome: "IP not allowed"},
				owner, elsewhere(remove(org, kept, 0, 0))),
			row(scenario{Name: "unversioned Accept is refused",
				want: one(behavior.InvalidVersion)}, owner, raw(kept, nil, unversioned)),
			row(scenario{Name: "malformed id, sent past the client's check",
				want: one(behavior.InvalidParameter)}, owner, raw(kept, nil, upper)),
			row(scenario{Name: "envelope=true wraps the 204", want: one(behavior.Enveloped),
				outcome: "{status: 204}", after: left(enveloped)},
				owner, raw(enveloped, &gen.DeleteOrgApiKeyParams{Envelope: new(true)})),
			row(scenario{Name: "injected 429: the bucket is empty",
				want: one(behavior.RateLimited), outcome: "rate limited"},
				owner, remove(org, kept, http.StatusTooManyRequests, 0)),
			row(scenario{Name: "injected 500 changes nothing",
				want: one(behavior.ServerError), outcome: "server error"},
				owner, remove(org, kept, http.StatusInternalServerError, 0)),
			// The delete applies, its answer is lost, and the retry finds no
			// key: already removed.
			row(scenario{Name: "retry after a 500 and a lost answer", Retries: true,
				want:    []behavior.Situation{behavior.ServerError, behavior.KeyNotFound},
				outcome: deleteorgapikey.AlreadyRemoved.String(), after: left(lost)},
				owner, remove(org, lost, http.StatusInternalServerError, 1)),
		)
	}
	return scenarios
}
