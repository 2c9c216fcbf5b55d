package kafka

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CrashRecovery says what RecoverCrashed found and did.
type CrashRecovery struct {
	// Aborted counts the partitions where a transaction was open and got its abort marker.
	Aborted int
	// Completed counts those of them whose transaction had committed in another partition:
	// their records were appended again, committed (Reappended counts the records).
	Completed, Reappended int
}

// RecoverCrashed closes every transaction the in-process broker found open in its data
// directory, as a real broker's transaction coordinator would have: a transaction that
// had committed in some partition is completed in the others, the rest are aborted. Call
// it right after a kfake cluster has loaded its data directory and before any client
// produces to it: every transaction open then is one a crash cut off. Never call it on a
// live cluster, where an open transaction may be one that is about to commit. It reads
// each partition once, read_uncommitted, from its start to its end. Running it again is a
// no-op; after a crash in the middle of it, running it again re-appends the records of a
// completed transaction a second time (subscribers deduplicate by message id).
//
// Why, and why this way: two behaviours of kfake (github.com/twmb/franz-go/pkg/kfake).
//
//   - Its crash recovery (persist.go, loadPartitionFullReplay) treats a transaction that
//     was open at a crash as aborted but writes no abort marker. Kafka consumers (kgo's and
//     Java's) drop every batch of that producer from the aborted transaction's first offset
//     until they see the producer's abort marker; the restarted forwarder or subscriber is
//     the same producer (same transactional id), so without the marker read_committed
//     consumers silently skip what it commits next. RecoverCrashed writes the marker.
//   - It commits a transaction (txns.go, endTx) by writing the commit marker to one
//     partition after the other, in map order, with nothing durable before the first. A
//     real broker's coordinator logs PrepareCommit first and, after a crash, finishes the
//     markers; kfake killed in between leaves the transaction committed in some partitions
//     and open — then aborted by its recovery — in the others. For the forwarder that is a
//     committed checkpoint whose approvals in another partition are gone: approvals never
//     booked, payments never completed (the seeded kill -9 spec in cmd/paymentd lost a
//     few every few runs). The transaction did commit, so RecoverCrashed completes it. It
//     cannot write the commit marker itself: kfake has already listed the records as
//     aborted in memory and keeps telling consumers so, and a consumer told that drops the
//     producer's batches until an abort marker. So it appends the open records again, as
//     ordinary (non-transactional, hence committed) records right after them, with the
//     same keys, values, headers and timestamps, and then writes the abort marker. Nothing
//     else can be in that partition after them: the crash cut the log there.
//
// A transaction is one (producer id, epoch): with transaction version 2 (KIP-890, EndTxn
// v5, which kgo uses with kfake) the producer's epoch is bumped at every commit or abort.
// When a partition shows two markers for one (producer id, epoch), epochs are not per
// transaction and a commit elsewhere proves nothing; then the open transaction is only
// aborted, as before.
func RecoverCrashed(ctx context.Context, cl *kgo.Client) (CrashRecovery, error) {
	var done CrashRecovery
	fail := func(format string, args ...any) (CrashRecovery, error) {
		return done, fmt.Errorf("recover crashed transactions: "+format, args...)
	}
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fail("list topics: %w", err)
	}
	if len(topics) == 0 {
		return done, nil
	}
	starts, err := adm.ListStartOffsets(ctx, topics.Names()...)
	if err != nil {
		return fail("start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics.Names()...)
	if err != nil {
		return fail("end offsets: %w", err)
	}
	var parts []kadm.ListedOffset
	ends.Each(func(o kadm.ListedOffset) { parts = append(parts, o) })
	slices.SortFunc(parts, func(a, b kadm.ListedOffset) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})

	// One pass over every partition: the transactions left open, and how every (producer
	// id, epoch) ended where it has a marker.
	type txn struct {
		pid   int64
		epoch int16
	}
	type open struct {
		topic     string
		partition int32
		txn
		records []*kgo.Record
	}
	var opens []open
	committed := map[txn]bool{} // a COMMIT marker was seen
	perTxnEpochs := true
	for _, end := range parts {
		start, _ := starts.Lookup(end.Topic, end.Partition)
		if err := errors.Join(start.Err, end.Err); err != nil {
			return fail("offsets of %s/%d: %w", end.Topic, end.Partition, err)
		}
		inPart := map[int64]*open{}
		markers := map[txn]bool{}
		err := readRange(ctx, cl, end.Topic, end.Partition, start.Offset, end.Offset,
			kgo.ProcessFetchPartitionOpts{IsolationLevel: kgo.ReadUncommitted(), KeepControlRecords: true},
			func(r *kgo.Record) {
				t := txn{r.ProducerID, r.ProducerEpoch}
				switch {
				case r.Attrs.IsControl():
					if markers[t] {
						perTxnEpochs = false
					}
					markers[t] = true
					// A COMMIT marker anywhere means the transaction committed; an ABORT
					// beside it is one an earlier, interrupted RecoverCrashed wrote.
					if len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:4]) == 1 { // 1: COMMIT, 0: ABORT
						committed[t] = true
					}
					delete(inPart, r.ProducerID)
				case r.Attrs.IsTransactional():
					o := inPart[r.ProducerID]
					if o == nil || o.epoch != r.ProducerEpoch {
						o = &open{topic: end.Topic, partition: end.Partition, txn: t}
						inPart[r.ProducerID] = o
					}
					o.records = append(o.records, r)
				}
			})
		if err != nil {
			return fail("%w", err)
		}
		pids := slices.Sorted(maps.Keys(inPart))
		for _, pid := range pids {
			opens = append(opens, *inPart[pid])
		}
	}
	if len(opens) == 0 {
		return done, nil
	}

	var again *kgo.Client // appends the records of completed transactions
	defer func() {
		if again != nil {
			again.Close()
		}
	}()
	for _, o := range opens {
		if perTxnEpochs && committed[o.txn] {
			if again == nil {
				seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
				if len(seeds) == 0 {
					return fail("the client has no seed brokers to append records again with")
				}
				if again, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner())); err != nil {
					return fail("client: %w", err)
				}
			}
			recs := make([]*kgo.Record, len(o.records))
			for i, r := range o.records {
				recs[i] = &kgo.Record{Topic: o.topic, Partition: o.partition, Key: r.Key, Value: r.Value,
					Headers: r.Headers, Timestamp: r.Timestamp}
			}
			if err := again.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				return fail("append again the %d records of producer %d epoch %d on %s/%d: %w",
					len(recs), o.pid, o.epoch, o.topic, o.partition, err)
			}
			done.Completed++
			done.Reappended += len(recs)
		}
		if err := abortMarker(ctx, cl, o.topic, o.partition, o.pid, o.epoch); err != nil {
			return fail("%w", err)
		}
		done.Aborted++
	}
	return done, nil
}

// abortMarker writes one abort marker for producer pid to a partition.
func abortMarker(ctx context.Context, cl *kgo.Client, topic string, partition int32, pid int64, epoch int16) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, false
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		for _, rm := range resp.Markers {
			for _, rt := range rm.Topics {
				for _, rp := range rt.Partitions {
					err = errors.Join(err, kerr.ErrorForCode(rp.ErrorCode))
				}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("abort marker for producer %d on %s/%d: %w", pid, topic, partition, err)
	}
	return nil
}
