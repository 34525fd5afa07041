// Package contact holds the rules for codes sent by SMS and email: which phone numbers
// and email addresses are accepted, how they are shown masked, how codes are made and
// stored, and how often codes may be sent.
//
// It has no state and no I/O: the server keeps the send history and the code key in
// the store and passes them in, so every rule here is tested with plain values and an
// injected time.
package contact
