package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
)

var errHelp = errors.New("help requested")

const defaultAtlasURL = "https://cloud.mongodb.com"

type config struct {
	atlas     bool
	baseURL   string
	orgID     string
	deleteKey string
	confirm   bool
	json      bool
	verbose   bool
	timeout   time.Duration
	log       *slog.Logger
	lookup    func(string) (string, bool)
	// newServer starts the reference servers of the local mode; tests
	// replace it to learn the secrets those servers make up.
	newServer func(...atlastest.Option) *atlastest.Server
}

const usage = `Usage:
  smoke [flags]              scenario matrix against the embedded reference server (no network)
  smoke -atlas [flags]       non-destructive checks against real Atlas
  smoke serve [serve flags]  run the reference server alone (see smoke serve -h)

Flags:
`

const envHelp = `
Environment (used with -atlas):
  MONGODB_ATLAS_CLIENT_ID, MONGODB_ATLAS_CLIENT_SECRET
        service account (preferred when both pairs are set)
  MONGODB_ATLAS_PUBLIC_API_KEY, MONGODB_ATLAS_PRIVATE_API_KEY
        programmatic API key (HTTP Digest)
  MONGODB_ATLAS_ORG_ID
        default for -org
  MONGODB_ATLAS_OPS_MANAGER_URL
        default for -base-url (else https://cloud.mongodb.com)

Exit status: 0 when every scenario passed, 1 when one failed, 2 on bad usage.
Secrets are never printed.
`

func parseFlags(args []string, stderr io.Writer, lookup func(string) (string, bool)) (config, error) {
	cfg := config{lookup: lookup, newServer: atlastest.NewServer}
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, envHelp)
	}
	envOr := func(name, def string) string {
		if v, ok := lookup(name); ok && v != "" {
			return v
		}
		return def
	}
	fs.BoolVar(&cfg.atlas, "atlas", false, "run against real Atlas (or -base-url) instead of the embedded reference server")
	fs.StringVar(&cfg.baseURL, "base-url", envOr("MONGODB_ATLAS_OPS_MANAGER_URL", defaultAtlasURL), "Atlas base URL, with -atlas")
	fs.StringVar(&cfg.orgID, "org", envOr("MONGODB_ATLAS_ORG_ID", ""), "organization id, with -atlas")
	fs.StringVar(&cfg.deleteKey, "delete-key", "", "with -atlas and -confirm: really delete this API key id")
	fs.BoolVar(&cfg.confirm, "confirm", false, "confirm -delete-key")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.BoolVar(&cfg.verbose, "v", false, "structured logs (log/slog) on stderr: each round trip's method, path and status")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "bound on the whole run; each request is bounded by it too")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, errHelp
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	if !cfg.atlas && (cfg.deleteKey != "" || cfg.confirm) {
		return cfg, errors.New("-delete-key and -confirm only make sense with -atlas")
	}
	if cfg.deleteKey != "" && !cfg.confirm {
		return cfg, fmt.Errorf("refusing to delete key %s without -confirm", cfg.deleteKey)
	}
	if cfg.confirm && cfg.deleteKey == "" {
		return cfg, errors.New("-confirm needs -delete-key ID")
	}
	if cfg.timeout <= 0 {
		return cfg, errors.New("-timeout must be positive")
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	logOut := io.Discard
	if cfg.verbose {
		logOut = stderr
	}
	cfg.log = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	return cfg, nil
}
