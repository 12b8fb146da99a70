// Package authedit calls Atlas's deleteOrgApiKey with an API key or a
// service account: ids checked first, retries, typed errors.
package authedit
