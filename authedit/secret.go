package authedit

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
)

// redacted is what every formatting path prints instead of a secret.
const redacted = "[redacted]"

// Secret is a credential value that never prints: fmt (every verb,
// including %#v), encoding/json, encoding.TextMarshaler users and log/slog
// all see "[redacted]". Convert explicitly with string(s) to use the value.
// (fmt cannot call methods through unexported struct fields, so a Secret
// kept in an unexported field of your own struct prints in the clear there.)
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter, so no verb (%x, %q, %d...) reveals the value.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Credentials are the two ways the spec lets a caller authenticate:
// [ServiceAccount] (security scheme ServiceAccounts) and [APIKey]
// (security scheme DigestAuth). The set is closed.
type Credentials interface {
	// Scheme is the name of the spec's security scheme the credentials satisfy.
	Scheme() string
	// validate reports an unusable value before anything is sent.
	validate() error
	// authenticate wraps next (the guarded base transport) with the
	// scheme's authentication, for requests to t's origin.
	authenticate(t *Transport, next http.RoundTripper) http.RoundTripper
}

// ServiceAccount is an Atlas service account: the client id and secret are
// exchanged for short-lived Bearer tokens (OAuth2 client credentials).
type ServiceAccount struct {
	ClientID     string
	ClientSecret Secret
}

// APIKey is an Atlas programmatic API key, used with HTTP digest
// authentication: the public key is the username, the private key the password.
type APIKey struct {
	PublicKey  string
	PrivateKey Secret
}

// Scheme returns "ServiceAccounts".
func (ServiceAccount) Scheme() string { return "ServiceAccounts" }

// Scheme returns "DigestAuth".
func (APIKey) Scheme() string { return "DigestAuth" }

func (c ServiceAccount) validate() error {
	switch {
	case c.ClientID == "":
		return &CredentialsError{Scheme: c.Scheme(), Field: "ClientID"}
	case c.ClientSecret == "":
		return &CredentialsError{Scheme: c.Scheme(), Field: "ClientSecret"}
	}
	return nil
}

func (c APIKey) validate() error {
	switch {
	case c.PublicKey == "":
		return &CredentialsError{Scheme: c.Scheme(), Field: "PublicKey"}
	case c.PrivateKey == "":
		return &CredentialsError{Scheme: c.Scheme(), Field: "PrivateKey"}
	}
	return nil
}

// CredentialsError reports credentials that cannot be used: a nil value or
// an empty field.
type CredentialsError struct {
	Scheme string // "ServiceAccounts", "DigestAuth", or "" for nil credentials
	Field  string // the empty field, e.g. "ClientSecret"
}

func (e *CredentialsError) Error() string {
	if e.Scheme == "" {
		return "authedit: no credentials given"
	}
	return fmt.Sprintf("authedit: %s credentials: %s is empty", e.Scheme, e.Field)
}

// Format prints the credentials with the secret redacted; %#v prints Go syntax.
func (c ServiceAccount) Format(f fmt.State, verb rune) {
	formatPair(f, verb, "ServiceAccount", "ClientID", c.ClientID, "ClientSecret")
}

// Format prints the credentials with the secret redacted; %#v prints Go syntax.
func (c APIKey) Format(f fmt.State, verb rune) {
	formatPair(f, verb, "APIKey", "PublicKey", c.PublicKey, "PrivateKey")
}

// String implements fmt.Stringer for code that checks for it rather than
// going through fmt; the secret is redacted.
func (c ServiceAccount) String() string { return fmt.Sprint(c) }

// GoString implements fmt.GoStringer; the secret is redacted.
func (c ServiceAccount) GoString() string { return fmt.Sprintf("%#v", c) }

// String implements fmt.Stringer; the secret is redacted.
func (c APIKey) String() string { return fmt.Sprint(c) }

// GoString implements fmt.GoStringer; the secret is redacted.
func (c APIKey) GoString() string { return fmt.Sprintf("%#v", c) }

// LogValue implements slog.LogValuer.
func (c ServiceAccount) LogValue() slog.Value {
	return slog.GroupValue(slog.String("ClientID", c.ClientID), slog.String("ClientSecret", redacted))
}

// LogValue implements slog.LogValuer.
func (c APIKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("PublicKey", c.PublicKey), slog.String("PrivateKey", redacted))
}

// formatPair writes an identifier/secret pair the way fmt would print the
// struct, except that the secret is replaced.
func formatPair(f fmt.State, verb rune, typ, idName, id, secretName string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprintf(f, "authedit.%s{%s:%q, %s:%q}", typ, idName, id, secretName, redacted)
	case verb == 'v' && f.Flag('+'):
		fmt.Fprintf(f, "{%s:%s %s:%s}", idName, id, secretName, redacted)
	default:
		fmt.Fprintf(f, "{%s %s}", id, redacted)
	}
}
