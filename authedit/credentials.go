package authedit

import (
	"fmt"
	"net/http"
	"strings"
)

const redacted = "[redacted]"

// Secret is a private key or client secret.
// It prints as "[redacted]" through fmt, encoding/json, log/slog and
// encoding/gob, so credentials can be logged without leaking it.
// Only the transports of this package read its value.
type Secret string

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// Format prints "[redacted]" whatever the verb, quoted for %#v.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprintf(f, "%q", redacted)
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// MarshalText returns "[redacted]": encoding/json and log/slog use it.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// GobEncode returns "[redacted]", as MarshalText does.
// A Secret sent through encoding/gob therefore arrives without its value,
// and decoding it fails: credentials do not travel between processes.
func (Secret) GobEncode() ([]byte, error) { return []byte(redacted), nil }

// Credentials are what a Transport authenticates with: an APIKey or a
// ServiceAccount, or a pointer to one.
type Credentials interface {
	// authenticate returns the layer that authenticates requests to t's
	// origin, sending them through t.guard. The base URL has no trailing
	// slash.
	authenticate(t *Transport, baseURL string) http.RoundTripper
}

// APIKey is an Atlas programmatic API key.
// A Transport authenticates with it by HTTP Digest.
type APIKey struct {
	PublicKey  string
	PrivateKey Secret
}

// ServiceAccount is an Atlas service account.
// A Transport exchanges it for OAuth 2.0 Bearer tokens.
type ServiceAccount struct {
	ClientID     string
	ClientSecret Secret
}

// CredentialsError reports credentials that cannot authenticate anything:
// nil, a field left empty, or environment variables not set.
type CredentialsError struct {
	// Missing names what is empty, such as "APIKey.PrivateKey" or
	// "MONGODB_ATLAS_PRIVATE_API_KEY". It is empty for nil credentials.
	Missing []string
}

// Error says what to set.
func (e *CredentialsError) Error() string {
	switch {
	case len(e.Missing) == 0:
		return "authedit: no credentials given"
	case len(e.Missing) > 1:
		return "authedit: no Atlas credentials in the environment: set either " +
			envClientID + " and " + envClientSecret + ", or " +
			envPublicKey + " and " + envPrivateKey
	case strings.HasPrefix(e.Missing[0], "MONGODB_ATLAS_"):
		return "authedit: environment variable " + e.Missing[0] + " is not set, but its partner is"
	}
	return "authedit: credentials: " + e.Missing[0] + " is empty"
}

// validateCredentials returns a *CredentialsError unless creds can authenticate.
func validateCredentials(creds Credentials) error {
	switch c := creds.(type) {
	case APIKey:
		return firstEmpty("APIKey.PublicKey", c.PublicKey,
			"APIKey.PrivateKey", string(c.PrivateKey))
	case ServiceAccount:
		return firstEmpty("ServiceAccount.ClientID", c.ClientID,
			"ServiceAccount.ClientSecret", string(c.ClientSecret))
	case *APIKey:
		if c != nil {
			return validateCredentials(*c)
		}
	case *ServiceAccount:
		if c != nil {
			return validateCredentials(*c)
		}
	}
	return &CredentialsError{}
}

// firstEmpty returns the error naming the first of a and b that is empty, if one is.
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

// defaultBaseURL is the spec's server, Atlas itself.
const defaultBaseURL = "https://cloud.mongodb.com"

// CredentialsFromEnv reads credentials from the Atlas CLI's variables, with
// lookup, which is os.LookupEnv outside tests.
// MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET give a
// ServiceAccount, which wins when both pairs are set.
// MONGODB_ATLAS_PUBLIC_API_KEY and MONGODB_ATLAS_PRIVATE_API_KEY give an APIKey.
// A pair set by half, or no pair at all, is a *CredentialsError.
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
	missing := []string{envClientID, envClientSecret, envPublicKey, envPrivateKey}
	return nil, &CredentialsError{Missing: missing}
}

// BaseURLFromEnv returns MONGODB_ATLAS_OPS_MANAGER_URL, read with lookup,
// or "https://cloud.mongodb.com" when it is not set.
func BaseURLFromEnv(lookup func(string) (string, bool)) string {
	if v, _ := lookup(envBaseURL); v != "" {
		return v
	}
	return defaultBaseURL
}
