package authedit_test

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/atlascontract/deleteorgapikey/authedit"
)

// A Secret prints as "[redacted]" however it is printed or encoded, and so
// do the credentials and the Transport that hold one.
func TestSecretsNeverPrint(t *testing.T) {
	const secret = "s3cr3t-VALUE-do-not-print"
	sa := authedit.ServiceAccount{ClientID: "client-id-visible", ClientSecret: secret}
	ak := authedit.APIKey{PublicKey: "public-visible", PrivateKey: secret}
	gob.Register(sa) // so that gob can encode it as an interface
	var outs []string
	nested := struct{ C authedit.Credentials }{sa}
	for _, v := range []any{authedit.Secret(secret), sa, &sa, ak, &ak, nested} {
		for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%d"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		js, err := json.Marshal(v)
		err = errors.Join(err, gob.NewEncoder(&buf).Encode(v))
		if outs = append(outs, string(js), buf.String()); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
	for _, out := range outs {
		if strings.Contains(out, secret) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%q leaks the secret, or does not say [redacted]", out)
		}
	}
	want := `{PublicKey:public-visible PrivateKey:[redacted]} ` +
		`authedit.ServiceAccount{ClientID:"client-id-visible", ClientSecret:"[redacted]"}`
	got := fmt.Sprintf("%+v %#v", ak, sa)
	if got != want || authedit.Secret(secret).String() != "[redacted]" {
		t.Errorf("the ids must print: %s", got)
	}
	for _, creds := range []authedit.Credentials{sa, ak} {
		tr, err := authedit.NewTransport("https://cloud.mongodb.com", creds)
		if err != nil {
			t.Fatal(err)
		}
		if out := fmt.Sprintf("%+v %#v", tr, *tr); strings.Contains(out, secret) {
			t.Errorf("a Transport prints the secret: %s", out)
		}
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	const (
		id, secret = "MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET"
		pub, priv  = "MONGODB_ATLAS_PUBLIC_API_KEY", "MONGODB_ATLAS_PRIVATE_API_KEY"
	)
	for _, tc := range []struct {
		set     []string // the variables set, each to its own name
		want    authedit.Credentials
		missing []string
	}{
		{nil, nil, []string{id, secret, pub, priv}},
		{[]string{id, secret, pub, priv}, authedit.ServiceAccount{ClientID: id,
			ClientSecret: secret}, nil},
		{[]string{pub, priv}, authedit.APIKey{PublicKey: pub, PrivateKey: priv}, nil},
		{[]string{id, pub, priv}, nil, []string{secret}},
		{[]string{secret}, nil, []string{id}},
		{[]string{pub}, nil, []string{priv}},
	} {
		lookup := func(name string) (string, bool) {
			if slices.Contains(tc.set, name) {
				return name, true
			}
			return "", false
		}
		got, err := authedit.CredentialsFromEnv(lookup)
		var ce *authedit.CredentialsError
		if got != tc.want || tc.missing != nil &&
			(!errors.As(err, &ce) || !slices.Equal(ce.Missing, tc.missing)) {
			t.Errorf("with %v set: %v, %v; want %v, missing %v",
				tc.set, got, err, tc.want, tc.missing)
		}
		if err != nil && !strings.Contains(err.Error(), tc.missing[0]) {
			t.Errorf("%q does not name %s", err, tc.missing[0])
		}
	}
}

// The default base URL is the spec's server.
func TestBaseURLFromEnv(t *testing.T) {
	raw, err := os.ReadFile("../openapi/deleteorgapikey.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct{ Servers []struct{ URL string } }
	if err := yaml.Unmarshal(raw, &spec); err != nil || len(spec.Servers) == 0 {
		t.Fatalf("the spec's servers: %v", err)
	}
	none := func(string) (string, bool) { return "", false }
	set := func(string) (string, bool) { return "https://ops.example", true }
	if got := authedit.BaseURLFromEnv(none); got != spec.Servers[0].URL {
		t.Errorf("default %s, the spec says %s", got, spec.Servers[0].URL)
	}
	if got := authedit.BaseURLFromEnv(set); got != "https://ops.example" {
		t.Errorf("BaseURLFromEnv = %s, want the variable's", got)
	}
}

// Credentials that cannot authenticate are refused, naming what is missing.
func TestNewTransportRefusesCredentials(t *testing.T) {
	for _, tc := range []struct {
		creds   authedit.Credentials
		missing string
	}{
		{nil, ""}, {(*authedit.APIKey)(nil), ""}, {(*authedit.ServiceAccount)(nil), ""},
		{authedit.APIKey{PrivateKey: "k"}, "APIKey.PublicKey"},
		{&authedit.APIKey{PublicKey: "p"}, "APIKey.PrivateKey"},
		{authedit.ServiceAccount{ClientID: "i"}, "ServiceAccount.ClientSecret"},
		{&authedit.ServiceAccount{ClientSecret: "s"}, "ServiceAccount.ClientID"},
	} {
		_, err := authedit.NewTransport("https://cloud.mongodb.com", tc.creds)
		var ce *authedit.CredentialsError
		if !errors.As(err, &ce) || strings.Join(ce.Missing, "") != tc.missing ||
			!strings.Contains(err.Error(), tc.missing) {
			t.Errorf("%#v: %v, want a *CredentialsError naming %q", tc.creds, err, tc.missing)
		}
	}
}
