package delivery

import "errors"

var (
	// ErrConfig means a transport or template setting is unusable.
	ErrConfig = errors.New("delivery: bad configuration")
	// ErrRejected means the provider refused the message (an SMTP 5xx reply, an HTTP
	// 4xx status); sending it again would fail the same way.
	ErrRejected = errors.New("delivery: provider rejected the message")
	// ErrUnavailable means the provider could not be reached or failed (a network
	// error, an SMTP 4xx reply, an HTTP 5xx status after the retries).
	ErrUnavailable = errors.New("delivery: provider unavailable")
)
