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
	BaseURL    string              `json:"baseUrl"`
	TokenURL   string              `json:"tokenUrl"`   // POST grant_type=client_credentials
	RevokeURL  string              `json:"revokeUrl"`  // POST token=..., the same Basic credentials
	ControlURL string              `json:"controlUrl"` // faults, keys, the request log
	Accept     string              `json:"accept"`     // the versioned Accept the operation needs
	OrgID      string              `json:"orgId"`
	Owner      atlastest.Principal `json:"owner"`  // Organization Owner: its deletes succeed
	Member     atlastest.Principal `json:"member"` // not an owner: its deletes are refused
	Keys       []string            `json:"keys"`   // deletable key ids
}

// serveUsage is what smoke serve -h prints before the flags.
const serveUsage = `Usage: smoke serve [flags]

Runs the reference Atlas server and prints one JSON line: baseUrl, tokenUrl, revokeUrl,
controlUrl, accept, orgId, owner and member credentials (made-up test values), and key ids.
The control API (controlUrl) scripts faults, adds keys and reads the request log, and asks
for no credentials: serve is for loopback and test networks only.
SIGINT and SIGTERM stop it: requests in flight get 5 s to finish, then are cut; exit status 0.
Start a built binary (go build -o smoke ./cmd/smoke): go run does not pass signals on.

Flags:
`

// shutdownBound is how long requests in flight get to finish once serve stops.
const shutdownBound = 5 * time.Second

// logLimit is how many requests the log keeps: serve may run for days.
const logLimit = 10_000

// serve runs the reference server until ctx ends, or stdin does with
// -exit-on-stdin-eof.
func serve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smoke serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, serveUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8080", "loopback address to listen on (port 0: any free)")
	remote := fs.Bool("allow-remote", false, "allow an -addr that is not loopback "+
		"(\"\", \":8080\", 0.0.0.0, the host's address): whoever reaches it controls the server")
	stdinEOF := fs.Bool("exit-on-stdin-eof", false, "stop, as on SIGTERM, when stdin closes")
	verbose := fs.Bool("v", false, "write each request to stderr as a JSON line, as in the log")
	seedKeys := fs.Int("seed-keys", 0, "extra deletable keys in the organization")
	printKeys := fs.Int("print-keys", -1, "how many deletable key ids to print; -1: every one")
	capacity := fs.Int("rate-capacity", 500, "requests the organization's bucket holds")
	refill := fs.Int("rate-refill", 250, "requests the bucket regains each -rate-period")
	period := fs.Duration("rate-period", time.Minute, "refill period of the bucket, whole seconds")
	maxConns := fs.Int("max-conns", 256, "open connections at most")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitPass
	} else if err != nil {
		return exitUsage // fs has said why
	}
	err := errors.Join(
		check(fs.NArg() > 0, "unexpected arguments %q (see -h)", fs.Args()),
		check(*seedKeys < 0, "-seed-keys must not be negative"),
		check(*printKeys < -1, "-print-keys must be -1 (every key) or more"),
		check(*capacity < 1 || *refill < 1, "-rate-capacity and -rate-refill must be positive"),
		check(*period < time.Second || *period%time.Second != 0,
			"-rate-period must be whole seconds, such as 60s, not %v", *period),
		check(*maxConns < 1, "-max-conns must be positive"),
		check(!*remote && !loopback(*addr), "-addr %q is not loopback, and the control API "+
			"asks for no credentials: use 127.0.0.1:PORT, or -allow-remote on a test network",
			*addr))
	if err != nil {
		return usageError(stderr, "smoke serve", err)
	}
	opts := []atlastest.Option{atlastest.WithSeedKeys(*seedKeys),
		atlastest.WithLogLimit(logLimit), atlastest.WithRateLimit(*capacity, *refill, *period)}
	if *verbose {
		enc := json.NewEncoder(stderr)
		opts = append(opts, atlastest.WithLogHook(func(r atlastest.Request) {
			_ = enc.Encode(entry(r))
		}))
	}
	srv := atlastest.New(opts...)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usageError(stderr, "smoke serve", err)
	}
	base := "http://" + dialable(ln.Addr().(*net.TCPAddr))
	keys := srv.Keys()
	if *printKeys >= 0 {
		keys = keys[:min(len(keys), *printKeys)]
	}
	_ = json.NewEncoder(stdout).Encode(announcement{
		BaseURL: base, TokenURL: base + contract.TokenPath(), ControlURL: base + controlPath,
		RevokeURL: base + contract.RevokePath(), Accept: contract.AcceptHeader(),
		OrgID: srv.OrgID(), Owner: srv.Owner(), Member: srv.Member(), Keys: keys,
	})
	hs := newHTTPServer(withControl(srv), *maxConns)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if *stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	select {
	case err = <-done:
		return usageError(stderr, "smoke serve", err)
	case <-ctx.Done():
		stop(hs, shutdownBound, stderr)
		return exitPass
	}
}

// stop shuts hs down: it stops accepting, gives the requests in flight
// bound to finish, then cuts those still running.
func stop(hs *http.Server, bound time.Duration, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if hs.Shutdown(ctx) != nil {
		fmt.Fprintf(stderr, "smoke serve: cut requests still running %v after the stop\n", bound)
		_ = hs.Close()
	}
}

// loopback reports whether addr's host is localhost or a loopback IP; an
// empty host means every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return err == nil && (host == "localhost" || ip != nil && ip.IsLoopback())
}

// newHTTPServer bounds what a client can hold: headers within 10 s, a
// request within 30 s, an answer within 30 s, 60 s idle, and maxConns
// connections.
func newHTTPServer(h http.Handler, maxConns int) *http.Server {
	lim := &connLimit{max: maxConns, open: map[net.Conn]connState{}}
	return &http.Server{Handler: h, MaxHeaderBytes: 64 << 10, ConnState: lim.track,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
}

// connLimit bounds open connections. At the bound, a new connection closes
// an idle one. That is the one accepted longest ago that has sent no
// request, which is what a flood holds; else the keep-alive connection idle
// longest; else, when all are busy, the new one itself. So a keep-alive
// connection, whose client may be sending its next request already, is
// never closed while a flood's are open.
type connLimit struct {
	max  int
	mu   sync.Mutex
	seq  uint64
	open map[net.Conn]connState
}

// connState is what connLimit knows of a connection.
type connState struct {
	idle   uint64 // when it was accepted or last became idle, by sequence number; 0 while busy
	served bool   // it has served a request
}

// track is the http.Server's ConnState hook.
func (l *connLimit) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	switch state {
	case http.StateNew, http.StateIdle:
		l.open[c] = connState{idle: l.seq, served: state == http.StateIdle}
	case http.StateActive:
		l.open[c] = connState{served: true}
	default: // closed or hijacked
		delete(l.open, c)
	}
	if state != http.StateNew || len(l.open) <= l.max {
		return
	}
	victim := c
	for oc, st := range l.open {
		v := l.open[victim]
		older := st.served == v.served && st.idle < v.idle
		if oc != c && st.idle != 0 && (victim == c || older || v.served && !st.served) {
			victim = oc
		}
	}
	delete(l.open, victim)
	_ = victim.Close() // closing the raw connection calls no hook: the lock is safe to hold
}

// dialable announces a wildcard address, which -allow-remote allows, as
// loopback. Clients on this host can dial it, and the client trusts it with
// credentials over plain http. Clients elsewhere use the host's own address.
func dialable(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		a = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.Port}
	}
	return a.String()
}
