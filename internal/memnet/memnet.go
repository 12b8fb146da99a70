// Package memnet serves HTTP over in-memory connections, for tests that
// run in a testing/synctest bubble.
//
// Inside a bubble, time moves only when every goroutine waits. A goroutine
// waiting on a net.Pipe counts as waiting, and one waiting on a socket
// does not, so a server reached through memnet lets retry waits and
// latencies pass in no real time.
package memnet

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// URL is the base URL to give clients of a server from Serve. It is
// loopback, so that clients that refuse cleartext http to other hosts
// accept it; nothing listens there.
const URL = "http://127.0.0.1:9"

// Serve serves h over in-memory connections and returns the transport that
// reaches it: every request it sends goes to h, whatever its URL. stop
// closes the transport's connections and the server.
func Serve(h http.Handler) (tr *http.Transport, stop func()) {
	l := &listener{conns: make(chan net.Conn), done: make(chan struct{})}
	tr = &http.Transport{DialContext: l.dial}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	return tr, func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
	}
}

// listener hands the server one end of each net.Pipe that dial makes.
type listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *listener) dial(ctx context.Context, _, _ string) (_ net.Conn, err error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		err = net.ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	_, _ = client.Close(), server.Close()
	return nil, err
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *listener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
}
