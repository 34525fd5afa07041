package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// codeKeySize is the length of the key that MACs one-time codes: the output size of
// HMAC-SHA256, as RFC 7518 section 3.2 asks of an HMAC key.
const codeKeySize = 32

// metaCodeKey holds the sealed code key; codeKeyAD binds the ciphertext to that place.
var (
	metaCodeKey = []byte("code_key")
	codeKeyAD   = []byte(adPrefix + "meta|code_key")
)

// CodeKey returns the key the server MACs one-time codes and address fingerprints
// with, creating it on first use. It lives in the meta bucket sealed under the master
// key, so a copy of the database file alone does not let anyone test guesses against
// a stored code. Creating the key needs a write transaction; in a read-only one a
// missing key is ErrNotFound.
func (tx *Tx) CodeKey() ([]byte, error) {
	meta, err := tx.bucket(bucketMeta)
	if err != nil {
		return nil, err
	}
	if sealed := meta.Get(metaCodeKey); sealed != nil {
		key, err := tx.s.open(sealed, codeKeyAD)
		if err != nil || len(key) != codeKeySize {
			return nil, fmt.Errorf("%w: the code key does not open", ErrCorrupt)
		}
		return key, nil
	}
	if !tx.btx.Writable() {
		return nil, ErrNotFound
	}
	return tx.createCodeKey()
}

func (tx *Tx) createCodeKey() ([]byte, error) {
	key := make([]byte, codeKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: code key: %w", err)
	}
	sealed, err := tx.s.seal(key, codeKeyAD)
	if err != nil {
		return nil, err
	}
	meta, err := tx.bucket(bucketMeta)
	if err != nil {
		return nil, err
	}
	if err := meta.Put(metaCodeKey, sealed); err != nil {
		return nil, fmt.Errorf("store: write code key: %w", err)
	}
	return key, nil
}

// SendLog loads the delivery history of a rate-limit key. A key with no history gets
// an empty log, not an error.
func (tx *Tx) SendLog(key string) (*SendLog, error) {
	logs, err := tx.bucket(bucketSendLog)
	if err != nil {
		return nil, err
	}
	l := new(SendLog)
	err = getJSON(logs, []byte(key), "send log", l)
	if errors.Is(err, ErrNotFound) {
		return l, nil
	}
	return l, err
}

// PutSendLog replaces the delivery history of a rate-limit key. The key must not hold
// an address in clear: the server passes a user id or a keyed fingerprint.
func (tx *Tx) PutSendLog(key string, l *SendLog) error {
	if key == "" {
		return errors.New("store: a send log needs a key")
	}
	logs, err := tx.bucket(bucketSendLog)
	if err != nil {
		return err
	}
	return putJSON(logs, []byte(key), "send log", l)
}

// PurgeSendLogs deletes the histories whose latest send is before cutoff and returns
// how many it deleted. The caller picks cutoff no later than now minus its longest
// rate-limit window, so no history that still counts is lost.
func (tx *Tx) PurgeSendLogs(cutoff time.Time) (int, error) {
	return purgeWhere(tx, bucketSendLog, "send log", func(l *SendLog) bool {
		return len(l.Sent) == 0 || l.Sent[len(l.Sent)-1].Before(cutoff)
	})
}
