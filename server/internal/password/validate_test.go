package password

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, pw string
		want     error
	}{
		{"empty", "", ErrTooShort},
		{"seven ASCII", "abcdefg", ErrTooShort},
		{"eight ASCII", "abcdefgh", nil},
		{"all digits, no composition rule", "12345678", nil},
		{"spaces count", "a b c d ", nil},
		{"seven runes, 14 bytes", "ééééééé", ErrTooShort},
		{"eight runes", "éééééééé", nil},
		{"eight emoji", strings.Repeat("🔑", 8), nil},
		{"256 bytes", strings.Repeat("a", 256), nil},
		{"257 bytes", strings.Repeat("a", 257), ErrTooLong},
		{"64 four-byte runes", strings.Repeat("🔑", 64), nil},
		{"65 four-byte runes", strings.Repeat("🔑", 65), ErrTooLong},
		{"invalid UTF-8", "abcdefgh\xff", ErrInvalid},
		{"truncated rune", "abcdefgh\xe2\x82", ErrInvalid},
		{"surrogate half", "abcdefgh\xed\xa0\x80", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.pw)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			if err != nil && len(tt.pw) > 0 && strings.Contains(err.Error(), tt.pw) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}
