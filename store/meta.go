package store

import (
	"bytes"
	"fmt"
	"strconv"

	"go.etcd.io/bbolt"
)

// schemaVersion is the layout this code reads and writes. Bump it, and add a migration,
// whenever a stored record or key format changes incompatibly.
const schemaVersion = 1

// Bucket names.
var (
	bucketMeta         = []byte("meta")
	bucketUsers        = []byte("users")
	bucketUsernames    = []byte("usernames")
	bucketSessions     = []byte("sessions")
	bucketUserSessions = []byte("user_sessions")
	bucketRefresh      = []byte("refresh")
	bucketChallenges   = []byte("challenges")
	bucketKeys         = []byte("keys")
	bucketRevoked      = []byte("revoked_tokens")
	bucketSendLog      = []byte("send_log")
	bucketServices     = []byte("services")
	bucketServiceJTIs  = []byte("service_jtis")

	allBuckets = [][]byte{
		bucketMeta, bucketUsers, bucketUsernames, bucketSessions, bucketUserSessions,
		bucketRefresh, bucketChallenges, bucketKeys, bucketRevoked, bucketSendLog,
		bucketServices, bucketServiceJTIs,
	}
)

// Keys of the meta bucket, and the plaintext of the key check.
var (
	metaSchemaVersion = []byte("schema_version")
	metaKeyCheck      = []byte("key_check")
	keyCheckPlain     = []byte("stepup master key check")
	keyCheckAD        = []byte(adPrefix + "meta|key_check")
)

// init prepares a new file or validates an existing one, in the transaction Open runs.
func (s *Store) init(btx *bbolt.Tx) error {
	meta := btx.Bucket(bucketMeta)
	if meta == nil {
		return s.create(btx)
	}
	if err := checkSchema(meta); err != nil {
		return err
	}
	if err := s.checkKey(meta); err != nil {
		return err
	}
	// Buckets added later within the same schema version appear on the next open.
	return createBuckets(btx)
}

// create lays out a new database: every bucket, the schema version and the key check.
func (s *Store) create(btx *bbolt.Tx) error {
	if name, _ := btx.Cursor().First(); name != nil {
		return fmt.Errorf("%w: the file has buckets but no meta bucket: "+
			"not a stepup database", ErrCorrupt)
	}
	if err := createBuckets(btx); err != nil {
		return err
	}

	meta := btx.Bucket(bucketMeta)
	if err := meta.Put(metaSchemaVersion, []byte(strconv.Itoa(schemaVersion))); err != nil {
		return fmt.Errorf("store: write schema version: %w", err)
	}
	sealed, err := s.seal(keyCheckPlain, keyCheckAD)
	if err != nil {
		return err
	}
	if err := meta.Put(metaKeyCheck, sealed); err != nil {
		return fmt.Errorf("store: write key check: %w", err)
	}
	return nil
}

// createBuckets creates whichever buckets are missing.
func createBuckets(btx *bbolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("store: create bucket %s: %w", name, err)
		}
	}
	return nil
}

// checkSchema refuses a file written by a newer stepupd, whose records this code might
// misread and then overwrite.
func checkSchema(meta *bbolt.Bucket) error {
	raw := meta.Get(metaSchemaVersion)
	if raw == nil {
		return fmt.Errorf("%w: no schema version in meta", ErrCorrupt)
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return fmt.Errorf("%w: unreadable schema version", ErrCorrupt)
	}
	if v > schemaVersion {
		return fmt.Errorf("store: database schema version %d is newer than this stepupd "+
			"supports (%d); run the newer stepupd", v, schemaVersion)
	}
	return nil
}

// checkKey opens the key check, so that a wrong master key fails Open instead of the
// first login that needs a TOTP secret.
func (s *Store) checkKey(meta *bbolt.Bucket) error {
	sealed := meta.Get(metaKeyCheck)
	if sealed == nil {
		return fmt.Errorf("%w: no key check in meta", ErrCorrupt)
	}
	plain, err := s.open(sealed, keyCheckAD)
	if err != nil || !bytes.Equal(plain, keyCheckPlain) {
		return fmt.Errorf("%w: it does not open this database's key check; "+
			"is it the key this data directory was created with?", ErrBadMasterKey)
	}
	return nil
}
