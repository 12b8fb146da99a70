// Command peer does the job of command ours by hand, as a careful Go
// programmer would without this module: net/http with icholy/digest, the
// versioned Accept, and a 204 expected. It reads the same environment
// variables, for an API key only, and takes the key as its one argument.
// It is the baseline of BenchmarkOneShot.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/icholy/digest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("usage: peer KEY_ID")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	baseURL := cmp.Or(os.Getenv("MONGODB_ATLAS_OPS_MANAGER_URL"), "https://cloud.mongodb.com")
	url := baseURL + "/api/atlas/v2/orgs/" + os.Getenv("MONGODB_ATLAS_ORG_ID") +
		"/apiKeys/" + os.Args[1]
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	hc := &http.Client{Transport: &digest.Transport{
		Username: os.Getenv("MONGODB_ATLAS_PUBLIC_API_KEY"),
		Password: os.Getenv("MONGODB_ATLAS_PRIVATE_API_KEY"),
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s %s: %s", req.Method, url, resp.Status)
	}
	return nil
}
