package token

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestBearerFromMD(t *testing.T) {
	const tok = "aaa.bbb.ccc"
	cases := []struct {
		name string
		md   metadata.MD
		want string // "" means ErrAuthHeader
	}{
		{"Bearer", metadata.Pairs("authorization", "Bearer "+tok), tok},
		{"bearer lowercase", metadata.Pairs("authorization", "bearer "+tok), tok},
		{"BEARER", metadata.Pairs("authorization", "BEARER "+tok), tok},
		{"key in capitals is normalised", metadata.Pairs("Authorization", "Bearer "+tok), tok},
		{"nil metadata", nil, ""},
		{"absent", metadata.Pairs("x-other", "Bearer "+tok), ""},
		{"two values", metadata.Pairs("authorization", "Bearer "+tok, "authorization", "Bearer "+tok), ""},
		{"two values, second bad", metadata.Pairs("authorization", "Bearer "+tok, "authorization", "Basic x"), ""},
		{"empty value", metadata.Pairs("authorization", ""), ""},
		{"Basic", metadata.Pairs("authorization", "Basic dXNlcjpwYXNz"), ""},
		{"no token", metadata.Pairs("authorization", "Bearer "), ""},
		{"no space", metadata.Pairs("authorization", "Bearer"), ""},
		{"no separator", metadata.Pairs("authorization", "Bearer"+tok), ""},
		{"two spaces", metadata.Pairs("authorization", "Bearer  "+tok), ""},
		{"tab", metadata.Pairs("authorization", "Bearer\t"+tok), ""},
		{"token only", metadata.Pairs("authorization", tok), ""},
		{"Bearerx scheme", metadata.Pairs("authorization", "Bearerx "+tok), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BearerFromMD(tc.md)
			if tc.want == "" {
				if !errors.Is(err, ErrAuthHeader) || got != "" {
					t.Fatalf("BearerFromMD = %q, %v; want ErrAuthHeader", got, err)
				}
				if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), "dXNlcjpwYXNz") {
					t.Errorf("error %q quotes the credential", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("BearerFromMD = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
