package delivery

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDefaultTemplates: every default message says what it is for and, where it
// carries a code, to ignore it when not asked for.
func TestDefaultTemplates(t *testing.T) {
	tm := DefaultTemplates()
	d := Data{Issuer: "Acme", Code: "493817", ValidFor: "5 minutes"}
	for _, c := range []Channel{Email, SMS} {
		for _, k := range []Kind{KindVerification, KindStepUp} {
			subject, body, err := tm.compose(c, k, d)
			if err != nil {
				t.Fatalf("%s %s: %v", c, k, err)
			}
			for _, want := range []string{"Acme", "493817", "5 minutes", "gnore"} {
				if !strings.Contains(body, want) {
					t.Errorf("%s %s body lacks %q:\n%s", c, k, want, body)
				}
			}
			if (c == Email) != (subject != "") || strings.Contains(subject, "493817") {
				t.Errorf("%s %s subject %q", c, k, subject)
			}
		}
	}
	_, body, _ := tm.compose(Email, KindAddressChanged, Data{Issuer: "Acme", NewAddress: "b***@example.com"})
	if !strings.Contains(body, "b***@example.com") || !strings.Contains(body, "did not") {
		t.Errorf("address-changed body:\n%s", body)
	}
	_, body, _ = tm.compose(SMS, KindAddressChanged, Data{Issuer: "Acme"})
	if strings.Contains(body, "now go to") {
		t.Errorf("removal notice names a new address: %s", body)
	}
}

func TestParseTemplatesOverride(t *testing.T) {
	tm, err := ParseTemplates(`{{define "sms_step_up"}}{{.Code}} is your {{.Issuer}} code{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := tm.compose(SMS, KindStepUp, Data{Issuer: "Acme", Code: "111222"})
	if body != "111222 is your Acme code" {
		t.Fatalf("overridden body %q", body)
	}
	// The others keep their defaults.
	if _, body, _ := tm.compose(SMS, KindVerification, Data{Issuer: "Acme", Code: "1"}); !strings.Contains(body, "Acme code 1") {
		t.Fatalf("default kept: %q", body)
	}
}

func TestParseTemplatesErrors(t *testing.T) {
	for _, src := range []string{
		`{{define "sms_step_up"}}{{.Cod}}{{end}}`, // unknown field: caught by the sample render
		`{{define "sms_step_up"}}{{.Code}`,        // syntax
	} {
		if _, err := ParseTemplates(src); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseTemplates(%q): %v, want ErrConfig", src, err)
		}
	}
}

// TestSubjectIsOneLine: whatever a template renders, the Subject header gets one line.
func TestSubjectIsOneLine(t *testing.T) {
	tm, err := ParseTemplates(`{{define "email_step_up_subject"}}code
Bcc: mallory@example.com{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	subject, _, _ := tm.compose(Email, KindStepUp, Data{Code: "1"})
	if strings.ContainsAny(subject, "\r\n") {
		t.Fatalf("subject %q", subject)
	}
}

func TestDuration(t *testing.T) {
	cases := map[time.Duration]string{
		5 * time.Minute: "5 minutes", time.Minute: "1 minute", 90 * time.Second: "90 seconds",
		time.Second: "1 second",
	}
	for d, want := range cases {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}
