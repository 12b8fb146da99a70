// Command smoke exercises the generated client end to end.
//
// With no flags it starts the reference server (atlastest) on loopback and
// runs a scenario matrix over both authentication methods; -atlas points it
// at real Atlas without deleting anything unless told to; `smoke serve` runs
// the reference server alone. Run `smoke -h` for every flag.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/atlascontract/deleteorgapikey/atlastest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// Exit codes: 0 everything passed, 1 a scenario failed, 2 bad usage or setup.
const (
	exitPass  = 0
	exitFail  = 1
	exitUsage = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	return runWith(ctx, args, stdout, stderr, lookup, nil)
}

// runWith is run with the local mode's servers made by newServer when not nil.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool),
	newServer func(...atlastest.Option) *atlastest.Server) int {
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr, lookup)
	if newServer != nil {
		cfg.newServer = newServer
	}
	if err != nil {
		if err == errHelp {
			return exitPass
		}
		fmt.Fprintln(stderr, "smoke:", err)
		return exitUsage
	}
	var results []result
	if cfg.atlas {
		results, err = runAtlas(ctx, cfg)
	} else {
		results, err = runLocal(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, "smoke:", err)
		return exitUsage
	}
	if cfg.json {
		err = writeJSON(stdout, results)
	} else {
		err = writeTable(stdout, results)
	}
	if err != nil {
		fmt.Fprintln(stderr, "smoke:", err)
		return exitUsage
	}
	if _, failed := summary(results); failed > 0 {
		return exitFail
	}
	return exitPass
}
