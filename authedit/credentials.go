package authedit

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/atlascontract/deleteorgapikey/gen"
)

const redacted = "[redacted]"

// Secret prints as "[redacted]" (fmt, json, slog) but in unexported fields.
type Secret string

func (Secret) String() string   { return redacted }
func (Secret) GoString() string { return `"` + redacted + `"` }
func (s Secret) Format(f fmt.State, verb rune) {
	out := redacted
	if verb == 'v' && f.Flag('#') {
		out = s.GoString()
	}
	_, _ = f.Write([]byte(out))
}
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credentials are an APIKey or a ServiceAccount, or a pointer to one.
type Credentials interface {
	authenticate(t *Transport, next http.RoundTripper) http.RoundTripper // next: the guarded base
}

// APIKey is an Atlas programmatic API key, for HTTP digest authentication.
type APIKey struct {
	PublicKey  string
	PrivateKey Secret
}

// ServiceAccount is an Atlas service account, for OAuth2 Bearer tokens.
type ServiceAccount struct {
	ClientID     string
	ClientSecret Secret
}

func (c APIKey) Format(f fmt.State, verb rune) {
	formatPair(f, verb, "APIKey", "PublicKey", c.PublicKey, "PrivateKey")
}
func (c APIKey) String() string   { return fmt.Sprint(c) }
func (c APIKey) GoString() string { return fmt.Sprintf("%#v", c) }
func (c ServiceAccount) Format(f fmt.State, verb rune) {
	formatPair(f, verb, "ServiceAccount", "ClientID", c.ClientID, "ClientSecret")
}
func (c ServiceAccount) String() string   { return fmt.Sprint(c) }
func (c ServiceAccount) GoString() string { return fmt.Sprintf("%#v", c) }

// formatPair prints an id/secret pair as fmt would print the struct,
// every verb but %v and %+v as %v.
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

// CredentialsError reports credentials nil or with an empty field or variable.
type CredentialsError struct {
	Missing []string // such as "APIKey.PrivateKey", or "MONGODB_ATLAS_PRIVATE_API_KEY"
}

func (e *CredentialsError) Error() string {
	switch {
	case len(e.Missing) == 0:
		return "authedit: no credentials given"
	case len(e.Missing) > 1:
		return "authedit: no Atlas credentials in the environment: set either pair: " + envClientID + " and " + envClientSecret +
			", or " + envPublicKey + " and " + envPrivateKey
	case strings.HasPrefix(e.Missing[0], "MONGODB_ATLAS_"):
		return "authedit: environment variable " + e.Missing[0] + " is not set (its partner is)"
	}
	return "authedit: credentials: " + e.Missing[0] + " is empty"
}

func validateCredentials(creds Credentials) error {
	switch c := creds.(type) {
	case *APIKey:
		if c != nil {
			return validateCredentials(*c)
		}
	case *ServiceAccount:
		if c != nil {
			return validateCredentials(*c)
		}
	case APIKey:
		return firstEmpty("APIKey.PublicKey", c.PublicKey, "APIKey.PrivateKey", string(c.PrivateKey))
	case ServiceAccount:
		return firstEmpty("ServiceAccount.ClientID", c.ClientID, "ServiceAccount.ClientSecret", string(c.ClientSecret))
	}
	return &CredentialsError{}
}

// firstEmpty is the error naming the first of a and b that is empty, if one is.
func firstEmpty(aName, a, bName, b string) error {
	switch {
	case a == "":
		return &CredentialsError{Missing: []string{aName}}
	case b == "":
		return &CredentialsError{Missing: []string{bName}}
	}
	return nil
}

// The environment variables of the Atlas CLI.
const (
	envClientID     = "MONGODB_ATLAS_CLIENT_ID"
	envClientSecret = "MONGODB_ATLAS_CLIENT_SECRET"
	envPublicKey    = "MONGODB_ATLAS_PUBLIC_API_KEY"
	envPrivateKey   = "MONGODB_ATLAS_PRIVATE_API_KEY"
	envBaseURL      = "MONGODB_ATLAS_OPS_MANAGER_URL"
)

// CredentialsFromEnv reads the Atlas CLI's variables, service account first.
func CredentialsFromEnv(lookup func(string) (string, bool)) (Credentials, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	id, secret := get(envClientID), get(envClientSecret)
	pub, priv := get(envPublicKey), get(envPrivateKey)
	switch {
	case id != "" && secret != "":
		return ServiceAccount{ClientID: id, ClientSecret: Secret(secret)}, nil
	case id != "" || secret != "":
		return nil, firstEmpty(envClientID, id, envClientSecret, secret)
	case pub != "" && priv != "":
		return APIKey{PublicKey: pub, PrivateKey: Secret(priv)}, nil
	case pub != "" || priv != "":
		return nil, firstEmpty(envPublicKey, pub, envPrivateKey, priv)
	}
	return nil, &CredentialsError{Missing: []string{envClientID, envClientSecret, envPublicKey, envPrivateKey}}
}

// BaseURLFromEnv returns MONGODB_ATLAS_OPS_MANAGER_URL or the spec's server.
func BaseURLFromEnv(lookup func(string) (string, bool)) string {
	if v, _ := lookup(envBaseURL); v != "" {
		return v
	}
	spec, err := gen.GetSpec()
	if err != nil || len(spec.Servers) == 0 { // the embedded spec, tested: a broken build
		panic(fmt.Sprintf("authedit: the embedded spec names no server: %v", err))
	}
	return spec.Servers[0].URL
}
