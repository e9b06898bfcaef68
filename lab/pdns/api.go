package pdns

import "github.com/microdc/mdc/pdnsapi"

// Client is the PowerDNS HTTP API client; it lives in package pdnsapi so
// the lab and the DNS activities share one.
type Client = pdnsapi.Client

// GeoAnswer is the address given to clients in some subnets (see pdnsapi).
type GeoAnswer = pdnsapi.GeoAnswer

// ErrKeyRejected is wrapped by errors from an API that refused the API key.
var ErrKeyRejected = pdnsapi.ErrKeyRejected

// ErrZoneNotFound is wrapped by errors about a zone the server does not have.
var ErrZoneNotFound = pdnsapi.ErrZoneNotFound

// NewClient returns a client for the API at apiURL (scheme://host:port).
func NewClient(apiURL, apiKey string) *Client { return pdnsapi.NewClient(apiURL, apiKey) }
