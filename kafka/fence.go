package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrFenced is wrapped by a role's Run error when another instance with the same
// transactional id took over: the stopped instance must not be restarted, the new one owns
// the work.
var ErrFenced = errors.New("fenced by another instance")

// Fenced reports whether err, from a transactional producer, means another producer with
// the same transactional id took over.
func Fenced(err error) bool {
	return errors.Is(err, ErrFenced) || errors.Is(err, kerr.ProducerFenced) ||
		errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) ||
		// A new producer with our transactional id aborted our open transaction when it
		// initialised; the coordinator (kfake, and brokers with KIP-890) may then answer our
		// commit with INVALID_TXN_STATE rather than a fencing error.
		errors.Is(err, kerr.InvalidTxnState)
}
