package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Retry defaults for HTTP providers.
const (
	defaultHTTPTimeout = 5 * time.Second
	defaultRetries     = 2
	defaultBackoff     = 250 * time.Millisecond
	maxResponseBody    = 8 << 10
)

// RetryPolicy governs an HTTP provider's retries. Only a 5xx answer is retried: a 4xx
// would fail again, and a timeout or a broken connection may hide a message that was
// accepted, which a retry would send twice.
type RetryPolicy struct {
	// Retries is the number of attempts after the first. Default 2; negative means none.
	Retries int
	// Backoff is the wait before the first retry, doubled for each later one. Default
	// 250 ms. A retry whose wait would pass the context's deadline is not made.
	Backoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	switch {
	case p.Retries == 0:
		p.Retries = defaultRetries
	case p.Retries < 0:
		p.Retries = 0
	}
	if p.Backoff <= 0 {
		p.Backoff = defaultBackoff
	}
	return p
}

// httpClient returns c, or a client with timeout that does not follow redirects: a
// provider that redirects a POST is misconfigured, and following it would send the
// code somewhere nobody chose.
func httpClient(c *http.Client, timeout time.Duration) *http.Client {
	if c != nil {
		return c
	}
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkURL accepts https, and http only to a loopback address, where a local relay or a
// test stands in for the provider: anything else would send codes in the clear.
func checkURL(raw, what string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: %s URL %q: want an absolute https URL", ErrConfig, what, raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w: %s URL %q: want https (http only to a loopback address)", ErrConfig, what, raw)
}

// requestFunc builds one attempt's request.
type requestFunc func(context.Context) (*http.Request, error)

// post sends the request made by build, again after each 5xx answer as the policy
// allows, and returns the final status and at most maxResponseBody bytes of its body.
// build is called for every attempt because a request body is read only once.
func post(ctx context.Context, client *http.Client, policy RetryPolicy, what string, build requestFunc) (int, []byte, error) {
	wait := policy.Backoff
	for attempt := 0; ; attempt++ {
		status, body, err := postOnce(ctx, client, build)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
		}
		if status < 500 || attempt == policy.Retries || !sleep(ctx, wait) {
			return status, body, nil
		}
		wait *= 2
	}
}

func postOnce(ctx context.Context, client *http.Client, build requestFunc) (int, []byte, error) {
	req, err := build(ctx)
	if err != nil {
		return 0, nil, redactURL(err) // a URL parse error quotes the URL and its query
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, redactURL(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// redactURL drops the URL from a client error: a webhook URL may carry a token in its
// query, and the error is logged.
func redactURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return fmt.Errorf("%s: %w", urlErr.Op, urlErr.Err)
	}
	return err
}

// sleep waits d, or reports false at once if ctx would end first.
func sleep(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// statusError classifies a final HTTP status: nil for 2xx, ErrRejected for 4xx (and
// anything else unexpected), ErrUnavailable for 5xx.
func statusError(what string, status int, detail string) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status >= 500:
		return fmt.Errorf("%w: %s: status %d%s", ErrUnavailable, what, status, detail)
	default:
		return fmt.Errorf("%w: %s: status %d%s", ErrRejected, what, status, detail)
	}
}
