// Package authedit calls deleteOrgApiKey with an API key or a service account.
package authedit
