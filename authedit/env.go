package authedit

import (
	"fmt"
	"os"

	"github.com/atlascontract/deleteorgapikey/gen"
)

// The environment variables the Atlas CLI reads; CredentialsFromEnv uses
// the same names so that a shell set up for the CLI works unchanged.
const (
	EnvClientID     = "MONGODB_ATLAS_CLIENT_ID"
	EnvClientSecret = "MONGODB_ATLAS_CLIENT_SECRET"
	EnvPublicKey    = "MONGODB_ATLAS_PUBLIC_API_KEY"
	EnvPrivateKey   = "MONGODB_ATLAS_PRIVATE_API_KEY"
	EnvBaseURL      = "MONGODB_ATLAS_OPS_MANAGER_URL" // BaseURLFromEnv
)

// EnvError reports that the environment holds no usable credential pair.
type EnvError struct {
	// Missing names the variables to set: the one unset half of a half-set
	// pair, or, when neither pair is set at all, all four names (service
	// account pair first).
	Missing []string
}

func (e *EnvError) Error() string {
	if len(e.Missing) == 1 {
		return "authedit: environment variable " + e.Missing[0] + " is not set (its partner is)"
	}
	return "authedit: no Atlas credentials in the environment: set either pair: " + EnvClientID + " and " + EnvClientSecret +
		", or " + EnvPublicKey + " and " + EnvPrivateKey
}

// CredentialsFromEnv reads credentials through lookup (os.LookupEnv or a
// test double). A complete service-account pair wins; otherwise a
// complete API-key pair is used. An empty value counts as unset. A
// half-set service-account pair is an error naming its missing half, even
// when the API-key pair is complete, because falling back silently would
// hide the mistake. The API-key pair is only looked at when no
// service-account variable is set: a half-set API-key pair is an error
// then, but a complete service-account pair is used whatever the API-key
// variables hold.
func CredentialsFromEnv(lookup func(string) (string, bool)) (Credentials, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	id, secret := get(EnvClientID), get(EnvClientSecret)
	pub, priv := get(EnvPublicKey), get(EnvPrivateKey)
	if err := halfSet(id, EnvClientID, secret, EnvClientSecret); err != nil {
		return nil, err
	}
	if id != "" {
		return ServiceAccount{ClientID: id, ClientSecret: Secret(secret)}, nil
	}
	if err := halfSet(pub, EnvPublicKey, priv, EnvPrivateKey); err != nil {
		return nil, err
	}
	if pub != "" {
		return APIKey{PublicKey: pub, PrivateKey: Secret(priv)}, nil
	}
	return nil, &EnvError{Missing: []string{EnvClientID, EnvClientSecret, EnvPublicKey, EnvPrivateKey}}
}

// CredentialsFromProcessEnv is CredentialsFromEnv(os.LookupEnv).
func CredentialsFromProcessEnv() (Credentials, error) { return CredentialsFromEnv(os.LookupEnv) }

// BaseURLFromEnv returns the base URL through lookup (os.LookupEnv or a
// test double): MONGODB_ATLAS_OPS_MANAGER_URL, as the Atlas CLI reads it,
// or when that is unset or empty the spec's first server,
// https://cloud.mongodb.com.
func BaseURLFromEnv(lookup func(string) (string, bool)) string {
	if v, _ := lookup(EnvBaseURL); v != "" {
		return v
	}
	spec, err := gen.GetSpec()
	if err != nil || len(spec.Servers) == 0 { // embedded and tested: a broken build, like contract.MustLoad
		panic(fmt.Sprintf("authedit: the embedded spec names no server: %v", err))
	}
	return spec.Servers[0].URL
}

// halfSet returns an *EnvError when exactly one of a pair is set.
func halfSet(a, aName, b, bName string) error {
	switch {
	case a != "" && b == "":
		return &EnvError{Missing: []string{bName}}
	case a == "" && b != "":
		return &EnvError{Missing: []string{aName}}
	}
	return nil
}
