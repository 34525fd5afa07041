package delivery

import (
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Kind names a message.
type Kind string

// The messages stepup sends.
const (
	// KindVerification carries the code that confirms a new address.
	KindVerification Kind = "verification"
	// KindStepUp carries a code that steps a session up.
	KindStepUp Kind = "step_up"
	// KindAddressChanged tells an old address that it no longer receives codes.
	KindAddressChanged Kind = "address_changed"
)

// Channel is the way a message travels, which decides its templates.
type Channel string

// The channels.
const (
	Email Channel = "email"
	SMS   Channel = "sms"
)

// Data is what a template sees.
type Data struct {
	// Issuer is the name of the service, the server's Config.Issuer.
	Issuer string
	// Code is the one-time code; empty in an address-changed notice.
	Code string
	// ValidFor says how long the code works, such as "5 minutes".
	ValidFor string
	// NewAddress is the address that replaced this one, masked; empty when this one
	// was removed, and in code messages.
	NewAddress string
}

// TemplateNames lists every template, by the name a templates file defines it with:
// "<channel>_<kind>_subject" and "<channel>_<kind>_body" for email, "sms_<kind>" for
// SMS.
func TemplateNames() []string {
	var names []string
	for _, k := range []Kind{KindVerification, KindStepUp, KindAddressChanged} {
		names = append(names, subjectName(Email, k), bodyName(Email, k), bodyName(SMS, k))
	}
	return names
}

func subjectName(c Channel, k Kind) string { return string(c) + "_" + string(k) + "_subject" }

func bodyName(c Channel, k Kind) string {
	if c == SMS {
		return string(c) + "_" + string(k)
	}
	return string(c) + "_" + string(k) + "_body"
}

// defaultTemplates says, in every message, what the code is for and what to do when
// the recipient did not ask for it.
const defaultTemplates = `
{{define "email_verification_subject"}}{{.Issuer}}: confirm your email address{{end}}
{{define "email_verification_body"}}Your {{.Issuer}} confirmation code is {{.Code}}

Enter it to let this address receive sign-in codes for your {{.Issuer}} account.
It works once and expires in {{.ValidFor}}.

If you did not ask to add this address, ignore this message: nothing changes
without the code.
{{end}}
{{define "email_step_up_subject"}}{{.Issuer}}: your sign-in code{{end}}
{{define "email_step_up_body"}}Your {{.Issuer}} sign-in code is {{.Code}}

It confirms a sign-in or a sensitive change on your account. It works once and
expires in {{.ValidFor}}. Do not share it: {{.Issuer}} never asks anyone for it.

If you did not ask for this code, ignore this message, and consider changing your
password: someone may know it.
{{end}}
{{define "email_address_changed_subject"}}{{.Issuer}}: this address no longer receives sign-in codes{{end}}
{{define "email_address_changed_body"}}This email address no longer receives sign-in codes for your {{.Issuer}} account.
{{- if .NewAddress}} They now go to {{.NewAddress}}.{{else}} It was removed from the account.{{end}}

If you made this change, there is nothing to do. If you did not, contact your
administrator now: someone else may be using your account.
{{end}}
{{define "sms_verification"}}{{.Issuer}} code {{.Code}} confirms this number for sign-in codes.
{{- " "}}Expires in {{.ValidFor}}. Did not ask? Ignore this message.{{end}}
{{define "sms_step_up"}}{{.Issuer}} sign-in code: {{.Code}}. Expires in {{.ValidFor}}.
{{- " "}}Never share it. Did not ask? Ignore this message.{{end}}
{{define "sms_address_changed"}}{{.Issuer}}: this number no longer receives sign-in codes
{{- if .NewAddress}}; they now go to {{.NewAddress}}{{end}}. Not you? Contact your administrator.{{end}}
`

// Templates are the message templates of both channels.
type Templates struct {
	t *template.Template
}

// DefaultTemplates returns the built-in templates.
func DefaultTemplates() *Templates {
	t, err := ParseTemplates("")
	if err != nil {
		panic("delivery: built-in templates: " + err.Error()) // a bug in this file
	}
	return t
}

// ParseTemplates returns the built-in templates with some or all of them replaced by
// the {{define "name"}} blocks of src (Go text/template syntax; TemplateNames lists
// the names). Every template is rendered once with sample data, so a mistake such as
// an unknown field fails here, at startup, and not when a user waits for a code.
func ParseTemplates(src string) (*Templates, error) {
	t, err := template.New("messages").Option("missingkey=error").Parse(defaultTemplates)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := t.Parse(src); err != nil {
		return nil, fmt.Errorf("%w: templates: %w", ErrConfig, err)
	}
	tm := &Templates{t: t}
	sample := Data{Issuer: "stepup", Code: "123456", ValidFor: "5 minutes", NewAddress: "a***@example.com"}
	for _, name := range TemplateNames() {
		if _, err := tm.render(name, sample); err != nil {
			return nil, err
		}
	}
	return tm, nil
}

// render executes one template.
func (tm *Templates) render(name string, d Data) (string, error) {
	var b strings.Builder
	if err := tm.t.ExecuteTemplate(&b, name, d); err != nil {
		return "", fmt.Errorf("%w: template %s: %w", ErrConfig, name, err)
	}
	return b.String(), nil
}

// compose renders the subject (email only) and body of one message.
func (tm *Templates) compose(c Channel, k Kind, d Data) (subject, body string, err error) {
	if c == Email {
		if subject, err = tm.render(subjectName(c, k), d); err != nil {
			return "", "", err
		}
		// A header must be one line, whatever a template produced.
		subject = strings.Join(strings.Fields(subject), " ")
	}
	body, err = tm.render(bodyName(c, k), d)
	return subject, strings.TrimSpace(body), err
}

// duration writes d for people: "5 minutes", "1 minute", "90 seconds".
func duration(d time.Duration) string {
	unit, n := "second", int64(d/time.Second)
	if d%time.Minute == 0 {
		unit, n = "minute", int64(d/time.Minute)
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
