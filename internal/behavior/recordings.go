package behavior

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Recording is one real Atlas answer kept in testdata/atlas: raw HTTP whose
// Evidence-* headers say what it shows, where and when it was observed.
type Recording struct {
	File      string // base name, e.g. "key-not-found.http"
	Situation Situation
	Source    string
	Date      string
	Status    int
	Header    http.Header // as Atlas sent it: the Evidence-* headers removed
	Body      []byte
}

// ReadRecordings reads every *.http file in dir, so that files dropped in
// later are read with no code change. A file that is not raw HTTP, or that
// names no situation, is an error.
func ReadRecordings(dir string) ([]Recording, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.http"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("behavior: no recorded answers in %s: %v", dir, err)
	}
	recs := make([]Recording, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return nil, fmt.Errorf("behavior: %s: %w", f, err)
		}
		body, _ := io.ReadAll(resp.Body) // from memory: cannot fail
		situation := Situation(resp.Header.Get("Evidence-Situation"))
		r := Recording{File: filepath.Base(f), Situation: situation,
			Source: resp.Header.Get("Evidence-Source"), Date: resp.Header.Get("Evidence-Date"),
			Status: resp.StatusCode, Header: resp.Header, Body: body}
		if r.Situation == "" || r.Source == "" || r.Date == "" {
			return nil, fmt.Errorf("behavior: %s: Evidence-Situation, -Source, -Date required", f)
		}
		for k := range r.Header {
			if strings.HasPrefix(k, "Evidence-") {
				delete(r.Header, k)
			}
		}
		recs = append(recs, r)
	}
	return recs, nil
}
