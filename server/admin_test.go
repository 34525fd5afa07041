package server

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	stepupv1 "github.com/stepup/stepup/gen/stepup/v1"
)

// TestCreateUserValidation: usernames are 1 to 64 bytes of printable UTF-8 without
// spaces, unique under case folding; passwords follow the NIST length rules.
func TestCreateUserValidation(t *testing.T) {
	h := newHarness(t)
	h.createUser("alice")
	h.createUser("sam")
	tests := []struct {
		name, username, password string
		code                     codes.Code
		field                    string
	}{
		{"ok", "bob", testPassword, codes.OK, ""},
		{"64 bytes", strings.Repeat("b", 64), testPassword, codes.OK, ""},
		{"non-ASCII letters", "zoë", testPassword, codes.OK, ""},
		{"empty", "", testPassword, codes.InvalidArgument, "username"},
		{"65 bytes", strings.Repeat("b", 65), testPassword, codes.InvalidArgument, "username"},
		{"space", "bob smith", testPassword, codes.InvalidArgument, "username"},
		{"leading space", " bob", testPassword, codes.InvalidArgument, "username"},
		{"tab", "bob\tsmith", testPassword, codes.InvalidArgument, "username"},
		{"newline", "bob\n", testPassword, codes.InvalidArgument, "username"},
		{"NUL", "bob\x00", testPassword, codes.InvalidArgument, "username"},
		{"DEL", "bob\x7f", testPassword, codes.InvalidArgument, "username"},
		{"zero-width space", "bob\u200b", testPassword, codes.InvalidArgument, "username"},
		{"no-break space", "bob\u00a0smith", testPassword, codes.InvalidArgument, "username"},
		{"duplicate", "alice", testPassword, codes.AlreadyExists, ""},
		{"duplicate in upper case", "ALICE", testPassword, codes.AlreadyExists, ""},
		{"duplicate under case folding", "\u017fam", testPassword, codes.AlreadyExists, ""},
		{"password too short", "carol", "seven77", codes.InvalidArgument, "password"},
		{"password over 256 bytes", "carol", strings.Repeat("p", 257), codes.InvalidArgument, "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.admin.CreateUser(h.ctx(), &stepupv1.CreateUserRequest{Username: tc.username, Password: tc.password})
			st := wantCode(t, err, tc.code)
			if tc.field != "" {
				if f := badRequestFields(st.Details()); len(f) != 1 || f[0] != tc.field {
					t.Fatalf("BadRequest fields %v, want [%s]", f, tc.field)
				}
			}
			if tc.code != codes.OK && strings.Contains(st.String(), tc.password) {
				t.Fatalf("reply quotes the password: %s", st.String())
			}
		})
	}
}

// TestGetUser: a user is found by id or by username, in any case; a missing one is
// NOT_FOUND and a reference with neither is INVALID_ARGUMENT.
func TestGetUser(t *testing.T) {
	h := newHarness(t)
	id := h.createUser("alice")
	byName := func(name string) *stepupv1.UserRef {
		return &stepupv1.UserRef{Ref: &stepupv1.UserRef_Username{Username: name}}
	}
	tests := []struct {
		name string
		ref  *stepupv1.UserRef
		code codes.Code
	}{
		{"by id", userRef(id), codes.OK},
		{"by username", byName("alice"), codes.OK},
		{"by username in upper case", byName("ALICE"), codes.OK},
		{"unknown id", userRef("u_nobody"), codes.NotFound},
		{"unknown username", byName("nobody"), codes.NotFound},
		{"empty reference", &stepupv1.UserRef{}, codes.InvalidArgument},
		{"no reference", nil, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.admin.GetUser(h.ctx(), &stepupv1.GetUserRequest{User: tc.ref})
			wantCode(t, err, tc.code)
			if tc.code != codes.OK {
				return
			}
			u := resp.GetUser()
			if u.GetUserId() != id || u.GetUsername() != "alice" || u.GetDisabled() ||
				!u.GetCreatedAt().AsTime().Equal(epoch) || len(u.GetFactors()) != 0 {
				t.Fatalf("GetUser: %v", u)
			}
		})
	}
}
