package apiclient

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseRSAKey reads an RSA private key in PEM, PKCS#8 or PKCS#1: a
// service account's or a service app's, which sign the JWTs their tokens
// are asked for with (RS256). Its errors never quote the key.
func ParseRSAKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("the private key is not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("the private key is neither PKCS#8 nor PKCS#1")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is %T; RS256 needs an RSA key", k)
	}
	return rk, nil
}

// Quoted writes s as a double-quoted string of a search filter (Okta's
// SCIM-like search, Cognito's ListUsers), its quotes and backslashes
// escaped.
func Quoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
