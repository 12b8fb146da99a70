package authedit_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/atlascontract/deleteorgapikey/authedit"
)

const secretValue = "s3cr3t-VALUE-do-not-print"

// leaks reports the forms of secret that must never appear in out.
func leaks(out, secret string) []string {
	var found []string
	for _, form := range []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		fmt.Sprintf("%x", secret),
	} {
		if strings.Contains(out, form) {
			found = append(found, form)
		}
	}
	return found
}

func TestSecretsNeverPrint(t *testing.T) {
	sa := authedit.ServiceAccount{ClientID: "client-id-visible", ClientSecret: secretValue}
	ak := authedit.APIKey{PublicKey: "public-visible", PrivateKey: secretValue}
	values := map[string]any{
		"Secret":          authedit.Secret(secretValue),
		"ServiceAccount":  sa,
		"*ServiceAccount": &sa,
		"APIKey":          ak,
		"*APIKey":         &ak,
		"Credentials":     authedit.Credentials(sa),
		"nested": struct {
			Creds authedit.Credentials
			Key   authedit.APIKey
		}{sa, ak},
	}
	for name, v := range values {
		for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, v)
			if l := leaks(out, secretValue); l != nil {
				t.Errorf("%s with %s = %q leaks %q", name, verb, out, l)
			}
			if !strings.Contains(out, "[redacted]") {
				t.Errorf("%s with %s = %q, want [redacted] in it", name, verb, out)
			}
		}
		js, err := json.Marshal(v)
		if err != nil {
			t.Errorf("%s: json: %v", name, err)
		}
		if l := leaks(string(js), secretValue); l != nil || !bytes.Contains(js, []byte("[redacted]")) {
			t.Errorf("%s as JSON = %s", name, js)
		}
		for hname, h := range handlers() {
			var buf bytes.Buffer
			slog.New(h(&buf)).Info("creds", slog.Any("v", v), "plain", v)
			if l := leaks(buf.String(), secretValue); l != nil || !strings.Contains(buf.String(), "[redacted]") {
				t.Errorf("%s via slog %s = %s", name, hname, buf.String())
			}
		}
	}
	// The visible halves stay visible: they identify, they do not authenticate.
	if out := fmt.Sprintf("%+v %v", sa, ak); !strings.Contains(out, "client-id-visible") || !strings.Contains(out, "public-visible") {
		t.Errorf("ids should print: %q", out)
	}
	if got, want := fmt.Sprintf("%#v", sa), `authedit.ServiceAccount{ClientID:"client-id-visible", ClientSecret:"[redacted]"}`; got != want {
		t.Errorf("%%#v = %s, want %s", got, want)
	}
	// Nor do the client and transport that hold them.
	for _, creds := range []authedit.Credentials{sa, ak} {
		c, err := authedit.NewClient("https://cloud.mongodb.com", creds)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := authedit.NewTransport("https://cloud.mongodb.com", creds)
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			for _, v := range []any{c, *c, tr, *tr} {
				if out := fmt.Sprintf(verb, v); leaks(out, secretValue) != nil {
					t.Errorf("%T with %s leaks: %s", v, verb, out)
				}
			}
		}
	}
	// Code that bypasses fmt and asks for fmt.Stringer / fmt.GoStringer.
	for _, v := range []any{authedit.Secret(secretValue), sa, ak, &sa, &ak} {
		for _, out := range []string{v.(fmt.Stringer).String(), v.(fmt.GoStringer).GoString()} {
			if leaks(out, secretValue) != nil || !strings.Contains(out, "[redacted]") {
				t.Errorf("%T String/GoString = %q", v, out)
			}
		}
		if tm, ok := v.(interface{ MarshalText() ([]byte, error) }); ok {
			if b, _ := tm.MarshalText(); string(b) != "[redacted]" {
				t.Errorf("%T MarshalText = %q", v, b)
			}
		}
	}
	// The value itself is intact for the code that needs it.
	if string(sa.ClientSecret) != secretValue {
		t.Error("string(Secret) must return the value")
	}
}

func handlers() map[string]func(*bytes.Buffer) slog.Handler {
	return map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	}
}

// A failed token request must not put the secret in the error, even when a
// hostile token endpoint echoes the Authorization header in its body.
func TestTokenErrorDoesNotLeak(t *testing.T) {
	s := newTokenServer(t, nil) // echoes Authorization on failure
	c, err := authedit.NewClient(s.URL, authedit.ServiceAccount{ClientID: s.ID, ClientSecret: secretValue})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteOrgApiKeyWithResponse(t.Context(), orgID, keyID, nil)
	var te *authedit.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *TokenError", err)
	}
	secretForms := []string{secretValue, s.ID + ":" + secretValue}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v"} {
		out := fmt.Sprintf(verb, err)
		for _, sf := range secretForms {
			if l := leaks(out, sf); l != nil {
				t.Errorf("error with %s = %q leaks %q", verb, out, l)
			}
		}
	}
	for hname, h := range handlers() {
		var buf bytes.Buffer
		slog.New(h(&buf)).Error("delete failed", slog.Any("err", err), "creds", authedit.ServiceAccount{ClientID: s.ID, ClientSecret: secretValue})
		for _, sf := range secretForms {
			if l := leaks(buf.String(), sf); l != nil {
				t.Errorf("slog %s = %s leaks %q", hname, buf.String(), l)
			}
		}
		if !strings.Contains(buf.String(), "invalid_client") {
			t.Errorf("slog %s = %s, want the error code in it", hname, buf.String())
		}
	}
}
