// Command ours removes one organization API key with this module's client,
// as a one-shot job does. The credentials and the base URL come from the
// Atlas CLI's environment variables, the organization from
// MONGODB_ATLAS_ORG_ID, and the key from the one argument. When
// BENCH_TOKEN_STORE names a directory, service-account tokens are shared
// through a token store there. The command exits 0 only when it removed
// the key.
//
// BenchmarkOneShot times it against the hand-written peer, and the process
// benchmarks run it as a service account.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/atlascontract/deleteorgapikey"
	"github.com/atlascontract/deleteorgapikey/authedit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ours:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("usage: ours KEY_ID")
	}
	creds, err := authedit.CredentialsFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	var opts []deleteorgapikey.Option
	if dir := os.Getenv("BENCH_TOKEN_STORE"); dir != "" {
		store, err := authedit.NewFileTokenStore(dir)
		if err != nil {
			return err
		}
		opts = append(opts, deleteorgapikey.WithTokenStore(store))
	}
	baseURL := authedit.BaseURLFromEnv(os.LookupEnv)
	client, err := deleteorgapikey.NewClient(baseURL, creds, opts...)
	if err != nil {
		return err
	}
	orgID := os.Getenv("MONGODB_ATLAS_ORG_ID")
	outcome, err := client.Remove(context.Background(), orgID, os.Args[1])
	if err == nil && outcome != deleteorgapikey.Removed {
		err = fmt.Errorf("the key was not removed: %v", outcome)
	}
	return err
}
