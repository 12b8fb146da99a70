package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
)

// announcement is the one JSON line serve prints on start. These are
// made-up test credentials of the reference server: printing them is the point.
type announcement struct {
	BaseURL string      `json:"baseUrl"`
	OrgID   string      `json:"orgId"`
	Owner   ownerCreds  `json:"owner"`
	Member  memberCreds `json:"member"`
	Keys    []string    `json:"keys"`
}

type ownerCreds struct {
	PublicKey    string `json:"publicKey"`
	PrivateKey   string `json:"privateKey"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

type memberCreds struct {
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smoke serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	seedKeys := fs.Int("seed-keys", 0, "extra deletable keys in the default organization")
	printKeys := fs.Int("print-keys", 20, "how many deletable key ids to print (at least 5)")
	capacity := fs.Int("rate-capacity", 500, "requests an organization's bucket holds")
	refill := fs.Int("rate-refill", 250, "requests the bucket regains each -rate-period")
	period := fs.Duration("rate-period", time.Minute, "refill period of the bucket")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: smoke serve [flags]\n\nRuns the reference Atlas server until interrupted and prints one JSON line:\nbaseUrl, orgId, owner and member credentials (made-up test values) and deletable key ids.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPass
		}
		return exitUsage
	}
	if fs.NArg() > 0 || *seedKeys < 0 || *printKeys < 5 || *capacity < 1 || *refill < 1 || *period <= 0 {
		fmt.Fprintln(stderr, "smoke serve: bad arguments (see -h)")
		return exitUsage
	}
	// Bound the request log: serve may run for days.
	srv := atlastest.New(atlastest.WithSeedKeys(*seedKeys), atlastest.WithRateLimit(*capacity, *refill, *period), atlastest.WithLogLimit(10_000))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "smoke serve:", err)
		return exitUsage
	}
	keys := srv.Keys()
	owner, member := srv.Owner(), srv.Member()
	line, _ := json.Marshal(announcement{
		BaseURL: "http://" + dialable(ln.Addr().(*net.TCPAddr)),
		OrgID:   srv.OrgID(),
		Owner:   ownerCreds{owner.PublicKey, owner.PrivateKey, owner.ClientID, owner.ClientSecret},
		Member:  memberCreds{member.PublicKey, member.PrivateKey},
		Keys:    keys[:min(len(keys), *printKeys)],
	})
	fmt.Fprintln(stdout, string(line))

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintln(stderr, "smoke serve:", err)
		return exitUsage
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		fmt.Fprintln(stderr, "smoke serve: shutdown:", err)
		return exitUsage
	}
	return exitPass
}

// dialable is the address to announce: a wildcard listen address (":8080",
// "0.0.0.0:8080") is announced as loopback, which clients can dial and
// authedit trusts with credentials over cleartext http.
func dialable(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(a.Port))
}
