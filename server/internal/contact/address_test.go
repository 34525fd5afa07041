package contact

import (
	"errors"
	"testing"
)

func TestParsePhone(t *testing.T) {
	cases := []struct {
		in, want string
		err      error
	}{
		{"+14155552671", "+14155552671", nil},
		{"+442071838750", "+442071838750", nil},
		{"+4930123456", "+4930123456", nil},
		{"+6831234", "+6831234", nil},                 // Niue: 7 digits in all
		{"+123456789012345", "", ErrBadPhone},         // +1 with 14 national digits
		{"+861234567890123", "+861234567890123", nil}, // 15 digits, the E.164 maximum
		{"+8612345678901234", "", ErrBadPhone},        // 16 digits
		{"+683123", "", ErrBadPhone},                  // 6 digits
		{"14155552671", "", ErrBadPhone},              // no plus
		{"+1 555 123 4567", "", ErrBadPhone},          // formatting is the client's job
		{"+1-415-555-2671", "", ErrBadPhone},
		{"+04155552671", "", ErrBadPhone}, // country codes do not start with 0
		{"+11551234567", "", ErrBadPhone}, // NANP area code starts with 1
		{"+15550234567", "", ErrBadPhone}, // NANP exchange starts with 0
		{"+1555123456", "", ErrBadPhone},  // NANP needs 10 national digits
		{"+4930123456\n", "", ErrBadPhone},
		{"+٤٤٢٠٧١٨٣٨٧٥٠", "", ErrBadPhone}, // Arabic-Indic digits
		{"", "", ErrBadPhone},
		{"+", "", ErrBadPhone},
	}
	for _, tc := range cases {
		got, err := ParsePhone(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("ParsePhone(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseEmail(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"alice@example.com", "alice@example.com"},
		{"Alice.Smith+2fa@Mail.Example.COM", "Alice.Smith+2fa@mail.example.com"},
		{"a@b.co", "a@b.co"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
		// Refused: everything that is not one bare, ASCII, dotted-domain address.
		{"Alice <alice@example.com>", ""},
		{"alice@example.com (Alice)", ""},
		{`"alice smith"@example.com`, ""},
		{"alice@localhost", ""},
		{"alice@example", ""},
		{"alice@-example.com", ""},
		{"alice@example-.com", ""},
		{"alice@example..com", ""},
		{"alice@example.123", ""},
		{"alice@[192.0.2.1]", ""},
		{"alice@exa_mple.com", ""},
		{"alice@bücher.example", ""},
		{"ålice@example.com", ""},
		{"alice@example.com\r\nBcc: mallory@example.com", ""},
		{"alice@example.com,bob@example.com", ""},
		{"alice", ""},
		{"@example.com", ""},
		{"alice@", ""},
		{"", ""},
	}
	for _, tc := range cases {
		got, err := ParseEmail(tc.in)
		if got != tc.want || (tc.want == "") != errors.Is(err, ErrBadEmail) {
			t.Errorf("ParseEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseEmailLengths(t *testing.T) {
	long := func(c byte, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = c
		}
		return string(b)
	}
	if _, err := ParseEmail(long('a', 64) + "@example.com"); err != nil {
		t.Errorf("64-byte local part: %v", err)
	}
	if _, err := ParseEmail(long('a', 65) + "@example.com"); err == nil {
		t.Error("65-byte local part accepted")
	}
	if _, err := ParseEmail("a@" + long('b', 64) + ".com"); err == nil {
		t.Error("64-byte label accepted")
	}
	domain := long('b', 63) + "." + long('c', 63) + "." + long('d', 63) + "." + long('e', 53) + ".com"
	if _, err := ParseEmail("a@" + domain); err != nil {
		t.Errorf("%d-byte address: %v", len("a@"+domain), err)
	}
	if _, err := ParseEmail("abcdefghij@" + domain); err == nil {
		t.Errorf("%d-byte address accepted", len("abcdefghij@"+domain))
	}
}

func TestMaskPhone(t *testing.T) {
	cases := []struct{ in, want string }{
		{"+15551234542", "+1 *** *** 42"},
		{"+442071838750", "+44 *** *** 50"},
		{"+79161234567", "+7 *** *** 67"},
		{"+353861234567", "+353 *** *** 67"},
		{"+6831234", "+683 *** *** 34"},
		{"+4930123456", "+49 *** *** 56"},
	}
	for _, tc := range cases {
		if got := MaskPhone(tc.in); got != tc.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	cases := []struct{ in, want string }{
		{"alice@example.com", "a***@example.com"},
		{"a@example.com", "a***@example.com"},
		{"Bob.Smith@mail.example.org", "B***@mail.example.org"},
	}
	for _, tc := range cases {
		if got := MaskEmail(tc.in); got != tc.want {
			t.Errorf("MaskEmail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSameEmail(t *testing.T) {
	if !SameEmail("Alice@example.com", "alice@example.com") {
		t.Error("case differs: want same")
	}
	if SameEmail("alice@example.com", "alicia@example.com") {
		t.Error("different mailboxes called same")
	}
}
