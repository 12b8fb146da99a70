package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// writeRecords writes answers as testdata/atlas files named after their
// situation, so that recording there refreshes the evidence. Every id sent
// becomes the spec's example for its parameter. Secrets, cookies and each
// Authorization value sent, each of its parts too, are redacted wherever
// they appear: raw, JSON-escaped or URL-escaped. A file is written beside
// its name and renamed onto it: a symlink there is replaced, not followed.
func writeRecords(dir string, answers []answer, secrets []string, ids map[string]string,
	source string, now time.Time) error {
	redact := redactor(secrets, ids)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	written := map[behavior.Situation]int{}
	for _, a := range answers {
		s := situationOf(a)
		name := string(s)
		if written[s]++; written[s] > 1 { // key-not-found, key-not-found-2, ...
			name += fmt.Sprint("-", written[s])
		}
		evidence := fmt.Sprintf("Evidence-Situation: %s\r\nEvidence-Source: %s\r\n"+
			"Evidence-Date: %s\r\n", s, source, now.UTC().Format(time.DateOnly))
		err := replaceFile(filepath.Join(dir, name+".http"), record(a, evidence, redact))
		if err != nil {
			return err
		}
	}
	return nil
}

// record is a as raw HTTP: the status line, the evidence headers, then
// every header as Atlas sent it, in order (sorted when the head was not
// kept: through a proxy), but for Transfer-Encoding (the file's body is
// read to its end) and with Content-Length counted again; then the body.
func record(a answer, evidence string, redact *strings.Replacer) string {
	head := a.head
	if !strings.HasPrefix(head, fmt.Sprintf("HTTP/1.1 %d ", a.status)) {
		var b strings.Builder
		fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", a.status, http.StatusText(a.status))
		_ = a.header.Write(&b)
		head = b.String()
	}
	body := redact.Replace(string(a.body))
	lines := strings.Split(strings.TrimSuffix(head, "\r\n"), "\r\n")
	var b strings.Builder
	b.WriteString(lines[0] + "\r\n" + evidence)
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		switch http.CanonicalHeaderKey(strings.TrimSpace(name)) {
		case "Transfer-Encoding":
			continue
		case "Content-Length":
			l = fmt.Sprintf("%s: %d", name, len(body))
		case "Set-Cookie":
			l = name + ": [redacted]"
		case "Www-Authenticate": // every nonce alike, answered or not
			l = nonceParam.ReplaceAllString(l, `nonce="`+recordedNonce+`"`)
		}
		b.WriteString(redact.Replace(l) + "\r\n")
	}
	return b.String() + "\r\n" + body
}

// recordedNonce stands for every challenge's nonce in a recording: a nonce
// is no secret, but one the client answered appears in its Authorization
// value, which is, so no nonce is kept. It has the shape of Atlas's.
const recordedNonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// nonceParam is a challenge's nonce parameter.
var nonceParam = regexp.MustCompile(`nonce="[^"]*"`)

// replaceFile writes a new file beside name and renames it onto name.
func replaceFile(name, content string) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".record-*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if err = errors.Join(err, f.Chmod(0o644), f.Close()); err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// redactor replaces each secret by [redacted], in each form an echo of it
// may take, and each id by the spec's example for its parameter.
func redactor(secrets []string, ids map[string]string) *strings.Replacer {
	var forms, pairs []string
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		forms = append(forms, s, string(j[1:len(j)-1]), url.QueryEscape(s), url.PathEscape(s))
	}
	// Longest first: a whole value before its parts.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		if f != "" {
			pairs = append(pairs, f, "[redacted]")
		}
	}
	for id, name := range ids {
		param := contract.MustLoad().Op.Parameters.GetByInAndName("path", name)
		pairs = append(pairs, id, fmt.Sprint(param.Schema.Value.Example))
	}
	return strings.NewReplacer(pairs...)
}

// authParts are an Authorization value, its credentials, and for Digest
// the parts a server may echo one by one.
func authParts(auth string) []string {
	_, cred, _ := strings.Cut(auth, " ")
	parts := []string{auth, cred}
	if c, err := digest.ParseCredentials(auth); err == nil {
		parts = append(parts, c.Username, c.Nonce, c.Cnonce, c.Response)
	}
	return parts
}

// situationOf is the first situation whose answer a is, else the first with
// its status, else "unclassified-<status>" (TestRecordedAnswers refuses it).
func situationOf(a answer) behavior.Situation {
	var byStatus behavior.Situation
	for _, w := range behavior.Table() {
		if a.is(w.Situation) == nil {
			return w.Situation
		}
		if w.Status == a.status && byStatus == "" {
			byStatus = w.Situation
		}
	}
	return cmp.Or(byStatus, behavior.Situation(fmt.Sprintf("unclassified-%d", a.status)))
}

// recordingTransport speaks HTTP/1.1 over connections that keep each
// answer's head, so that -record writes the headers in Atlas's order.
func recordingTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	keep := func(c net.Conn, err error) (net.Conn, error) {
		if err != nil {
			return nil, err
		}
		return &headConn{Conn: c}, nil
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return keep(d.DialContext(ctx, network, addr))
	}
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		tlsDialer := &tls.Dialer{NetDialer: d} // no ALPN: HTTP/1.1
		return keep(tlsDialer.DialContext(ctx, network, addr))
	}
	t.ForceAttemptHTTP2 = false
	return t
}

// withHead traces req: once it is answered, head returns the answer's head
// if its connection kept it, else "".
func withHead(req *http.Request) (_ *http.Request, head func() string) {
	var conn *headConn
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if conn, _ = info.Conn.(*headConn); conn != nil {
			conn.take() // what it kept before is an earlier answer's
		}
	}}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace)), func() string {
		if conn == nil {
			return ""
		}
		return conn.take()
	}
}

// headConn keeps what it reads after take, at most 64 KiB: the start of the
// next answer, its head included.
type headConn struct {
	net.Conn
	mu   sync.Mutex
	kept []byte
}

// Read reads from the connection and keeps what it read.
func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kept = append(c.kept, p[:min(n, 64<<10-len(c.kept))]...)
	return n, err
}

// take returns the head kept (the status line and headers, each line ending
// in CRLF), "" if it is incomplete, and starts keeping anew.
func (c *headConn) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	head, _, ok := strings.Cut(string(c.kept), "\r\n\r\n")
	c.kept = nil
	if !ok {
		return ""
	}
	return head + "\r\n"
}
