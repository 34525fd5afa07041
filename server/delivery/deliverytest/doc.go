// Package deliverytest runs stand-ins for the providers of package delivery, for
// tests: a real SMTP server in-process (github.com/emersion/go-smtp) with STARTTLS and
// AUTH PLAIN, and an HTTP server that stands in for an SMS provider, answering both
// the signed webhook and Twilio's Messages API. Both record what arrived, so a test
// reads the code a user would have received.
//
// Only tests import this package, so stepupd does not link the SMTP server library.
package deliverytest
