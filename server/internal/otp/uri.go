package otp

import (
	"encoding/base32"
	"net/url"
	"strconv"
	"strings"

	"github.com/skip2/go-qrcode"
)

// qrSize is the width and height of the enrolment QR code in pixels.
const qrSize = 256

// secretEncoding is base32 without padding, the form authenticator apps expect in the
// secret parameter.
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeSecret returns secret in unpadded base32, for the otpauth URI and for users who
// type the secret into their app by hand.
func EncodeSecret(secret []byte) string {
	return secretEncoding.EncodeToString(secret)
}

// URI returns the otpauth://totp key URI that authenticator apps import, with the label
// "issuer:account" and the parameters secret, issuer, algorithm=SHA1, digits=6 and
// period=30. Issuer and account are percent-encoded, colons included, so neither can
// change where the other ends. An empty issuer leaves the label as the account alone and
// omits the issuer parameter. The URI carries the secret and must be handled like it.
func URI(issuer, account string, secret []byte) string {
	label := escapeLabel(account)
	if issuer != "" {
		label = escapeLabel(issuer) + ":" + label
	}
	q := []string{"secret=" + EncodeSecret(secret)}
	if issuer != "" {
		q = append(q, "issuer="+escapeQuery(issuer))
	}
	q = append(q,
		"algorithm=SHA1",
		"digits="+strconv.Itoa(Digits),
		"period="+strconv.Itoa(int(Period.Seconds())))
	return "otpauth://totp/" + label + "?" + strings.Join(q, "&")
}

// escapeLabel percent-encodes one half of the label, including the colon that
// separates the halves.
func escapeLabel(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// escapeQuery percent-encodes a query value with %20 for space: some apps show a
// literal '+'.
func escapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// QRPNG renders uri as a 256-pixel PNG QR code with medium error correction.
func QRPNG(uri string) ([]byte, error) {
	return qrcode.Encode(uri, qrcode.Medium, qrSize)
}
