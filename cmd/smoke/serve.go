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
	"sync"
	"time"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// announcement is the JSON line serve prints on start: what a client in
// any language needs. The credentials are the reference server's made-up
// test values: printing them is the point.
type announcement struct {
	BaseURL   string              `json:"baseUrl"`
	TokenURL  string              `json:"tokenUrl"`  // POST grant_type=client_credentials, client id and secret in HTTP Basic
	RevokeURL string              `json:"revokeUrl"` // POST token=..., same Basic credentials
	Accept    string              `json:"accept"`    // the versioned Accept every request to the operation needs
	OrgID     string              `json:"orgId"`
	Owner     atlastest.Principal `json:"owner"`  // Organization Owner: its deletes succeed
	Member    atlastest.Principal `json:"member"` // no Owner role: its deletes get 403
	Keys      []string            `json:"keys"`   // deletable key ids
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smoke serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	seedKeys := fs.Int("seed-keys", 0, "extra deletable keys in the default organization")
	printKeys := fs.Int("print-keys", -1, "how many deletable key ids to print; -1 prints every one (the default keys plus -seed-keys)")
	capacity := fs.Int("rate-capacity", 500, "requests an organization's bucket holds")
	refill := fs.Int("rate-refill", 250, "requests the bucket regains each -rate-period")
	period := fs.Duration("rate-period", time.Minute, "refill period of the bucket")
	maxConns := fs.Int("max-conns", 256, "open connections at most; at the bound a new one closes the longest idle one")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: smoke serve [flags]\n\nRuns the reference Atlas server until interrupted and prints one JSON line: baseUrl, tokenUrl,\n"+
			"revokeUrl, accept, orgId, owner and member credentials (made-up test values) and deletable key ids.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fail := func(err any) int { fmt.Fprintln(stderr, "smoke serve:", err); return exitUsage }
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitPass
	} else if err != nil || fs.NArg() > 0 || *seedKeys < 0 || *printKeys < -1 || *capacity < 1 || *refill < 1 || *period <= 0 || *maxConns < 1 {
		return fail("bad arguments (see -h)")
	}
	srv := atlastest.New(atlastest.WithSeedKeys(*seedKeys), atlastest.WithRateLimit(*capacity, *refill, *period), atlastest.WithLogLimit(10_000)) // serve may run for days
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(err)
	}
	keys := srv.Keys()
	if *printKeys >= 0 {
		keys = keys[:min(len(keys), *printKeys)]
	}
	base := "http://" + dialable(ln.Addr().(*net.TCPAddr))
	_ = json.NewEncoder(stdout).Encode(announcement{
		BaseURL: base, TokenURL: base + contract.TokenPath(), RevokeURL: base + contract.RevokePath(), Accept: contract.AcceptHeader(),
		OrgID: srv.OrgID(), Owner: srv.Owner(), Member: srv.Member(), Keys: keys,
	})
	hs, _ := newHTTPServer(srv.Handler(), *maxConns)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = hs.Shutdown(shutdown)
	}
	if err != nil {
		return fail(err)
	}
	return exitPass
}

// newHTTPServer bounds what a client can hold: headers within 10 s, a
// request within 30 s, an answer within 30 s, 60 s idle, maxConns connections.
func newHTTPServer(h http.Handler, maxConns int) (*http.Server, *connLimit) {
	lim := &connLimit{max: maxConns, open: map[net.Conn]uint64{}}
	return &http.Server{Handler: h, MaxHeaderBytes: 64 << 10, ConnState: lim.track, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}, lim
}

// connLimit bounds open connections: at the bound a new one closes the one
// idle longest, so an idle flood costs the flooder its oldest connections and
// a real client is served at once (the new one goes when all else is busy).
type connLimit struct {
	max  int
	mu   sync.Mutex
	seq  uint64
	open map[net.Conn]uint64 // when the connection last became idle; 0 while a request is served
}

func (l *connLimit) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew, http.StateIdle:
		l.seq++
		l.open[c] = l.seq
	case http.StateActive:
		l.open[c] = 0
	default: // closed or hijacked
		delete(l.open, c)
	}
	if state != http.StateNew || len(l.open) <= l.max {
		return
	}
	var oldest net.Conn
	for oc, idle := range l.open {
		if idle != 0 && (oldest == nil || idle < l.open[oldest]) {
			oldest = oc
		}
	}
	delete(l.open, oldest)
	_ = oldest.Close() // closing the raw connection calls no hook: the lock is safe to hold
}

// dialable announces a wildcard address as loopback, which clients can dial
// and authedit trusts with credentials over plain http.
func dialable(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		a = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.Port}
	}
	return a.String()
}
