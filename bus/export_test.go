package bus

import "time"

// SetPubAckTimeout makes JetStream contexts created after it await PubAcks for d, until the
// returned function restores PubAckTimeout.
func SetPubAckTimeout(d time.Duration) (restore func()) {
	pubAckTimeout = d
	return func() { pubAckTimeout = PubAckTimeout }
}
