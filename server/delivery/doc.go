// Package delivery sends the one-time codes and notices of stepup's SMS and email
// factors.
//
// A Sender renders a message from Templates and hands it to a Transport: SMTP for
// email, a signed JSON webhook or Twilio's Messages API for SMS, or Dev, which only
// writes messages to the log and a file, for development. Sender implements the
// server's Sender interface; package server/daemon builds one per channel from its
// options.
//
// Transports never put the code, the message or the recipient in an error, because
// the server logs errors. Only Dev writes codes anywhere, and it says so loudly.
package delivery
