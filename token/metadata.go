package token

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/metadata"
)

const (
	authorizationKey = "authorization"
	bearerPrefix     = "Bearer "
)

var (
	errAuthCount  = fmt.Errorf("%w: need exactly one authorization value", ErrAuthHeader)
	errAuthScheme = fmt.Errorf("%w: scheme is not Bearer", ErrAuthHeader)
	errAuthEmpty  = fmt.Errorf("%w: empty bearer token", ErrAuthHeader)
)

// BearerFromMD returns the token from the request's single authorization value,
// which must be "Bearer" (any letter case), one space, and a non-empty token. Two
// values are refused rather than picking one, since a proxy and a client might each
// have added one. The token is not checked here beyond that; Verify does it. Errors
// never quote the header.
func BearerFromMD(md metadata.MD) (string, error) {
	vals := md.Get(authorizationKey)
	if len(vals) != 1 {
		return "", errAuthCount
	}
	v := vals[0]
	if len(v) < len(bearerPrefix) || !strings.EqualFold(v[:len(bearerPrefix)], bearerPrefix) {
		return "", errAuthScheme
	}
	tok := v[len(bearerPrefix):]
	if tok == "" || tok[0] == ' ' {
		return "", errAuthEmpty
	}
	return tok, nil
}
