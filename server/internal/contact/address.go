package contact

import (
	"fmt"
	"net/mail"
	"strings"
)

// E.164 allows at most 15 digits after the "+". The shortest numbers in service (Niue,
// Tokelau) have 7.
const (
	minPhoneDigits = 7
	maxPhoneDigits = 15
)

// Length limits of an address (RFC 5321 section 4.5.3.1; 254 is what fits in a path).
const (
	maxEmailLen  = 254
	maxLocalLen  = 64
	maxLabelLen  = 63
	maxDomainLen = 253
)

// ParsePhone accepts an E.164 number: "+", a country code that does not start with 0,
// and the national number, 7 to 15 digits in all, with nothing else. Numbers under
// country code 1 (the North American plan) must have ten national digits with an area
// code and exchange that start with 2 to 9, which catches the most common typing
// mistakes. The number is returned unchanged.
func ParsePhone(s string) (string, error) {
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || len(digits) < minPhoneDigits || len(digits) > maxPhoneDigits {
		return "", ErrBadPhone
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", ErrBadPhone
		}
	}
	if digits[0] == '0' {
		return "", ErrBadPhone
	}
	if digits[0] == '1' && !validNANP(digits[1:]) {
		return "", ErrBadPhone
	}
	return s, nil
}

// validNANP checks a North American national number: NXX NXX XXXX, N from 2 to 9.
func validNANP(national string) bool {
	return len(national) == 10 && national[0] >= '2' && national[3] >= '2'
}

// MaskPhone shows a number as its country code and last two digits, such as
// "+1 *** *** 67". The masked form has the same shape for every length, so it does
// not tell how long the number is.
func MaskPhone(e164 string) string {
	digits := strings.TrimPrefix(e164, "+")
	cc := countryCodeLen(digits)
	if len(digits) < cc+2 {
		return "+*** *** **"
	}
	return fmt.Sprintf("+%s *** *** %s", digits[:cc], digits[len(digits)-2:])
}

// countryCodeLen returns the length of the ITU-T E.164 country code that starts
// digits: 1 for zones 1 and 7, 2 for the two-digit codes listed, 3 for the rest.
func countryCodeLen(digits string) int {
	if digits == "" {
		return 0
	}
	if digits[0] == '1' || digits[0] == '7' {
		return 1
	}
	if len(digits) >= 2 && twoDigitCodes[digits[:2]] {
		return 2
	}
	return min(3, len(digits))
}

// twoDigitCodes are the assigned two-digit country codes of ITU-T E.164.
var twoDigitCodes = map[string]bool{
	"20": true, "27": true, "30": true, "31": true, "32": true, "33": true, "34": true,
	"36": true, "39": true, "40": true, "41": true, "43": true, "44": true, "45": true,
	"46": true, "47": true, "48": true, "49": true, "51": true, "52": true, "53": true,
	"54": true, "55": true, "56": true, "57": true, "58": true, "60": true, "61": true,
	"62": true, "63": true, "64": true, "65": true, "66": true, "81": true, "82": true,
	"84": true, "86": true, "90": true, "91": true, "92": true, "93": true, "94": true,
	"95": true, "98": true,
}

// ParseEmail accepts a bare address, "local@domain", and returns it with the domain in
// lower case. It refuses display names, comments, quoted local parts, non-ASCII
// characters (an internationalized domain must be given in its xn-- form), and
// domains that are not at least two valid DNS labels. These are more rules than RFC
// 5322 has, on purpose: an address that reaches the SMTP envelope and the To header
// must not be able to carry a line break or a second recipient.
func ParseEmail(s string) (string, error) {
	if len(s) > maxEmailLen || !printableASCII(s) {
		return "", ErrBadEmail
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", ErrBadEmail
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > maxLocalLen || strings.ContainsAny(local, `"\`) {
		return "", ErrBadEmail
	}
	domain = strings.ToLower(domain)
	if !validDomain(domain) {
		return "", ErrBadEmail
	}
	return local + "@" + domain, nil
}

// printableASCII reports whether s holds only printable ASCII without spaces.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

// validDomain checks a lower-case host name of at least two labels, each of letters,
// digits and inner hyphens, with a top-level label that is not all digits.
func validDomain(d string) bool {
	if len(d) > maxDomainLen {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

func validLabel(l string) bool {
	if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// MaskEmail shows the first character of the local part and the domain, such as
// "a***@example.com".
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 1 {
		return "***"
	}
	return addr[:1] + "***" + addr[at:]
}

// SameEmail reports whether two parsed addresses name the same mailbox as far as rate
// limits and replacement go. Local parts are compared without case: RFC 5321 lets a
// server tell them apart, but hardly any does, and treating them as one keeps a
// changed letter case from resetting a limit.
func SameEmail(a, b string) bool { return strings.EqualFold(a, b) }
