package toss

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/v1"
)

// ErrMalformedResponse is wrapped by the error returned when a 2xx answer cannot be decoded
// as a Payment. The request may or may not have taken effect.
var ErrMalformedResponse = errors.New("toss: malformed response")

// ErrIdempotencyKeyTooLong is returned, before anything is sent, for an idempotency key
// longer than Toss's limit of 300 characters.
var ErrIdempotencyKeyTooLong = errors.New("toss: idempotency key longer than 300 characters")

// APIError is a non-2xx answer from Toss. Code and Message come from Toss's error JSON
// {"code","message"}; both are empty when the body was something else, such as a proxy's
// HTML error page. Body is the exact body received (at most 1 MiB).
type APIError struct {
	HTTPStatus int
	Code       string
	Message    string
	Body       []byte
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("toss: HTTP %d without a Toss error body", e.HTTPStatus)
	}
	return fmt.Sprintf("toss: HTTP %d %s: %s", e.HTTPStatus, e.Code, e.Message)
}

func newAPIError(status int, body []byte) *APIError {
	e := &APIError{HTTPStatus: status, Body: body}
	var wire struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &wire) == nil {
		e.Code, e.Message = wire.Code, wire.Message
	}
	return e
}
