package main

// Owned by the matching area: register the matching part here (see app.go's part) and fill MatchingConfig.
// The batch command `suilong match` lives in match.go.

// MatchingConfig is matching's configuration (flags prefixed "matching-", variables SUILONG_MATCHING_*).
type MatchingConfig struct{}
