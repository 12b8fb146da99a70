// Package authedit authenticates calls to the Atlas deleteOrgApiKey operation: service-account Bearer tokens or digest API keys,
// with the versioned Accept header, a User-Agent and spec-driven validation of the ids before any byte leaves the process.
package authedit
