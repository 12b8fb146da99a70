package atlastest_test

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/atlastest"
	"github.com/atlascontract/deleteorgapikey/internal/behavior"
	"github.com/atlascontract/deleteorgapikey/internal/contract"
)

// These tests talk to the server with clients that share no code with this
// module: curl's digest implementation and Python's standard library. Both
// tools are on every machine this project runs on (.ci/run installs them
// where missing), so a missing one is a failure, not a skip.

func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed for this test (see .ci/run): %v", name, err)
	}
	return path
}

func TestCurlDigest(t *testing.T) {
	curl := tool(t, "curl")
	srv := atlastest.NewServer()
	defer srv.Close()
	owner, key := srv.Owner(), srv.Keys()[0]
	url := srv.URL + "/api/atlas/v2/orgs/" + srv.OrgID() + "/apiKeys/" + key
	status := func(user string) string {
		out, err := exec.CommandContext(t.Context(), curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
			"--digest", "-u", user, "-H", "Accept: "+contract.AcceptHeader(), "-X", "DELETE", url).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		return string(out)
	}
	if got := status(owner.PublicKey + ":" + owner.PrivateKey); got != "204" {
		t.Fatalf("curl --digest delete: %s, want 204", got)
	}
	gone, _ := behavior.Lookup(behavior.KeyNotFound)
	if got := status(owner.PublicKey + ":" + owner.PrivateKey); got != strconv.Itoa(gone.Status) {
		t.Errorf("curl --digest delete again: %s, want %d", got, gone.Status)
	}
	if got := status(owner.PublicKey + ":wrong"); got != "401" {
		t.Errorf("curl --digest with a wrong key: %s, want 401", got)
	}
	if srv.HasKey(key) {
		t.Errorf("key %s still there after curl's delete", key)
	}
}

func TestPythonClients(t *testing.T) {
	python := tool(t, "python3")
	srv := atlastest.NewServer()
	defer srv.Close()
	owner, keys := srv.Owner(), srv.Keys()
	out, err := exec.CommandContext(t.Context(), python, "testdata/digest_client.py", srv.URL, srv.OrgID(),
		owner.PublicKey, owner.PrivateKey, owner.ClientID, owner.ClientSecret, keys[0], keys[1], contract.AcceptHeader()).CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	gone, _ := behavior.Lookup(behavior.KeyNotFound)
	bad, _ := behavior.Lookup(behavior.InvalidParameter)
	want := "digest-delete 204 -\n" +
		fmt.Sprintf("digest-again %d %s\n", gone.Status, gone.ErrorCode) +
		"token Bearer 3600\n" +
		"bearer-delete 204 -\n" +
		fmt.Sprintf("bearer-again %d %s\n", gone.Status, gone.ErrorCode) +
		fmt.Sprintf("bearer-malformed %d %s\n", bad.Status, bad.ErrorCode)
	if string(out) != want {
		t.Errorf("python client printed:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(strings.Join(srv.OrgKeys(srv.OrgID()), ","), keys[0]) {
		t.Errorf("key %s survived", keys[0])
	}
}
