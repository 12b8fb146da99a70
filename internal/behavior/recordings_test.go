package behavior_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/atlascontract/deleteorgapikey/internal/behavior"
)

// TestReadRecordings: a recording's Evidence-* headers become its fields
// and leave its header; Atlas's own headers and body stay as they were.
func TestReadRecordings(t *testing.T) {
	dir := t.TempDir()
	raw := "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n" +
		"Evidence-Situation: key-not-found\r\nEvidence-Source: a test\r\n" +
		"Evidence-Date: 2026-12-06\r\nContent-Length: 2\r\n\r\n{}"
	if err := os.WriteFile(filepath.Join(dir, "x.http"), []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := behavior.ReadRecordings(dir)
	if err != nil || len(recs) != 1 {
		t.Fatalf("got %d recordings, %v", len(recs), err)
	}
	r := recs[0]
	if r.File != "x.http" || r.Situation != "key-not-found" || r.Source != "a test" ||
		r.Date != "2026-12-06" || r.Status != 404 || string(r.Body) != "{}" {
		t.Errorf("read %+v", r)
	}
	if r.Header.Get("Evidence-Source") != "" || r.Header.Get("Content-Type") == "" {
		t.Errorf("header %v: want Atlas's headers without Evidence-*", r.Header)
	}
}

// TestReadRecordingsRefusesFilesWithoutEvidence: a recording must say what it
// shows, where and when it was observed.
func TestReadRecordingsRefusesFilesWithoutEvidence(t *testing.T) {
	for name, raw := range map[string]string{
		"no source": "HTTP/1.1 204 No Content\r\nEvidence-Situation: removed\r\n\r\n",
		"not HTTP":  "{}",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x.http"), []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := behavior.ReadRecordings(dir); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	if _, err := behavior.ReadRecordings(t.TempDir()); err == nil {
		t.Error("an empty directory: read")
	}
}
