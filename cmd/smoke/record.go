package main

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// writeRecords writes every answer to the operation into dir, one file
// each, in testdata/atlas's format (see its README): status line, headers,
// blank line, body, and the Evidence-Situation/-Source/-Date headers. A file
// is named after its situation ("key-not-found.http", then
// "key-not-found-2.http" for the next one of the run), so that recording into
// testdata/atlas refreshes the evidence there.
//
// Nothing secret is written: every known secret (the private key or client
// secret, each Authorization value sent, each token issued) is redacted
// wherever it appears, cookies are dropped, and the organization and deleted
// key ids (ids passed in) become the spec's example ids. Nonces stay: they
// are not secrets, and the challenge is part of the evidence. Token
// endpoint answers are not written: they carry tokens and no situation of the
// table.
func writeRecords(dir string, answers []answer, secrets, ids []string, source string, now time.Time) error {
	var pairs []string
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) }) // longest first
	for _, s := range secrets {
		pairs = append(pairs, s, "[redacted]")
	}
	for i, name := range []string{"orgId", "apiUserId"} {
		if i < len(ids) && ids[i] != "" {
			pairs = append(pairs, ids[i], fmt.Sprint(contract.MustLoad().Op.Parameters.GetByInAndName("path", name).Schema.Value.Example))
		}
	}
	redact := strings.NewReplacer(pairs...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	written := map[behavior.Situation]int{}
	for _, a := range answers {
		s := situationOf(a)
		written[s]++
		name := string(s) + ".http"
		if n := written[s]; n > 1 {
			name = fmt.Sprintf("%s-%d.http", s, n)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "HTTP/1.1 %d %s\n", a.status, http.StatusText(a.status))
		fmt.Fprintf(&b, "Evidence-Situation: %s\nEvidence-Source: %s\nEvidence-Date: %s\n",
			s, redact.Replace(fmt.Sprintf("%s, scenario %q", source, a.scenario)), now.UTC().Format(time.DateOnly))
		for _, k := range slices.Sorted(maps.Keys(a.header)) {
			switch k {
			case "Set-Cookie", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive":
				continue // secrets, or framing the redaction would make wrong
			}
			for _, v := range a.header[k] {
				fmt.Fprintf(&b, "%s: %s\n", k, redact.Replace(v))
			}
		}
		b.WriteString("\n" + redact.Replace(string(a.body)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// situationOf names the situation an answer shows, from internal/behavior's
// table: by status and errorCode; else the probed situation with that
// errorCode; else the first situation with that status. An answer the
// table cannot place is "unclassified-<status>": a file a maintainer must
// look at (TestRecordedAnswers refuses it until the table knows it).
func situationOf(a answer) behavior.Situation {
	if s, ok := behavior.ByErrorCode(a.status, a.code); ok {
		return s
	}
	for _, s := range a.probes {
		if w, _ := behavior.Lookup(s); a.code != "" && a.code == w.ErrorCode {
			return s
		}
	}
	for _, w := range behavior.Table() {
		if w.Status == a.status {
			return w.Situation
		}
	}
	return behavior.Situation(fmt.Sprintf("unclassified-%d", a.status))
}
