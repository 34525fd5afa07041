// Package store persists stepup's state in a single bbolt file.
//
// The store is typed but holds no policy: the server opens a transaction with View or
// Update and reads and writes records through Tx. Everything that must be atomic, such
// as checking a one-time code and consuming it, happens inside one Update, because bbolt
// runs one read-write transaction at a time.
//
// Secrets that must be recoverable (TOTP seeds, private signing keys) are sealed with
// XChaCha20-Poly1305 under the master key before they reach the file, with additional
// data that binds each ciphertext to its bucket, record id and field, so a sealed value
// copied into another record fails to open. Records are JSON; docs/storage.md describes
// the layout.
package store
