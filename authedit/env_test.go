package authedit_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
)

func TestCredentialsFromEnv(t *testing.T) {
	const (
		id, secret = envClientID, envClientSecret
		pub, priv  = envPublicKey, envPrivateKey
	)
	all := []string{id, secret, pub, priv}
	tests := []struct {
		name    string
		set     []string // variables set (to "v-" + name)
		empty   []string // variables set to ""
		want    authedit.Credentials
		missing []string
	}{
		{name: "nothing", missing: all},
		{name: "all empty", empty: all, missing: all},
		{name: "service account", set: []string{id, secret}, want: authedit.ServiceAccount{ClientID: "v-" + id, ClientSecret: authedit.Secret("v-" + secret)}},
		{name: "api key", set: []string{pub, priv}, want: authedit.APIKey{PublicKey: "v-" + pub, PrivateKey: authedit.Secret("v-" + priv)}},
		{name: "both pairs: service account wins", set: all, want: authedit.ServiceAccount{ClientID: "v-" + id, ClientSecret: authedit.Secret("v-" + secret)}},
		{name: "client id only", set: []string{id}, missing: []string{secret}},
		{name: "client secret only", set: []string{secret}, missing: []string{id}},
		{name: "client secret empty", set: []string{id}, empty: []string{secret}, missing: []string{secret}},
		{name: "public key only", set: []string{pub}, missing: []string{priv}},
		{name: "private key only", set: []string{priv}, missing: []string{pub}},
		{name: "private key empty", set: []string{pub}, empty: []string{priv}, missing: []string{priv}},
		{name: "api key complete, client id half", set: []string{id, pub, priv}, missing: []string{secret}},
		{name: "api key complete, client secret half", set: []string{secret, pub, priv}, missing: []string{id}},
		{name: "service account complete, public key half", set: []string{id, secret, pub}, want: authedit.ServiceAccount{ClientID: "v-" + id, ClientSecret: authedit.Secret("v-" + secret)}},
		{name: "client id and public key", set: []string{id, pub}, missing: []string{secret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"UNRELATED": "x"}
			for _, k := range tc.set {
				env[k] = "v-" + k
			}
			for _, k := range tc.empty {
				env[k] = ""
			}
			got, err := authedit.CredentialsFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if tc.missing != nil {
				var ee *authedit.CredentialsError
				if !errors.As(err, &ee) {
					t.Fatalf("err = %v (creds %v), want *CredentialsError", err, got)
				}
				if !slices.Equal(ee.Missing, tc.missing) {
					t.Errorf("Missing = %q, want %q", ee.Missing, tc.missing)
				}
				for _, m := range tc.missing {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("message %q does not name %s", err, m)
					}
				}
				if got != nil {
					t.Errorf("creds = %v, want nil with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("creds = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// With os.LookupEnv, as the process environment is read.
func TestCredentialsFromProcessEnv(t *testing.T) {
	t.Setenv(envClientID, "")
	t.Setenv(envClientSecret, "")
	t.Setenv(envPublicKey, "pub")
	t.Setenv(envPrivateKey, "")
	_, err := authedit.CredentialsFromEnv(os.LookupEnv)
	var ee *authedit.CredentialsError
	if !errors.As(err, &ee) || !slices.Equal(ee.Missing, []string{envPrivateKey}) {
		t.Fatalf("err = %v, want a *CredentialsError naming %s", err, envPrivateKey)
	}
}
