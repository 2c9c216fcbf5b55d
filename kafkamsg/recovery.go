package kafkamsg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MarkCrashAborted writes the abort marker that the in-process broker's crash recovery
// leaves out, for every transaction still open in the log, and returns how many it wrote.
// Call it right after a kfake cluster has loaded its data directory and before any client
// produces to it: every transaction open then is one a crash cut off. Never call it on a
// live cluster, where an open transaction may be one that is about to commit.
//
// Why: kfake (github.com/twmb/franz-go/pkg/kfake, persist.go, loadPartitionFullReplay)
// treats a transaction that was open at a crash as aborted but writes no abort marker.
// Kafka consumers (kgo's and Java's) drop every batch of that producer from the aborted
// transaction's first offset until they see the producer's abort marker; the restarted
// forwarder or subscriber is the same producer (same transactional id, bumped epoch), so
// without the marker read_committed consumers silently skip what it commits next whenever
// one fetch returns both — approvals that are never booked, completions never recorded.
// It reads each partition once, read_uncommitted, from its start to its end.
func MarkCrashAborted(ctx context.Context, cl *kgo.Client) (int, error) {
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return 0, fmt.Errorf("mark crash-aborted transactions: list topics: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics.Names()...)
	if err != nil {
		return 0, fmt.Errorf("mark crash-aborted transactions: start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics.Names()...)
	if err != nil {
		return 0, fmt.Errorf("mark crash-aborted transactions: end offsets: %w", err)
	}
	if len(topics) == 0 {
		return 0, nil
	}
	var parts []kadm.ListedOffset
	ends.Each(func(o kadm.ListedOffset) { parts = append(parts, o) })
	slices.SortFunc(parts, func(a, b kadm.ListedOffset) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	marked := 0
	for _, end := range parts {
		start, _ := starts.Lookup(end.Topic, end.Partition)
		if err := errors.Join(start.Err, end.Err); err != nil {
			return marked, fmt.Errorf("mark crash-aborted transactions: offsets of %s/%d: %w", end.Topic, end.Partition, err)
		}
		open := map[int64]int16{} // producer id → epoch of a transaction with no marker yet
		err := readRange(ctx, cl, end.Topic, end.Partition, start.Offset, end.Offset,
			kgo.ProcessFetchPartitionOpts{IsolationLevel: kgo.ReadUncommitted(), KeepControlRecords: true},
			func(r *kgo.Record) {
				switch {
				case r.Attrs.IsControl():
					delete(open, r.ProducerID)
				case r.Attrs.IsTransactional():
					open[r.ProducerID] = r.ProducerEpoch
				}
			})
		if err != nil {
			return marked, fmt.Errorf("mark crash-aborted transactions: %w", err)
		}
		pids := make([]int64, 0, len(open))
		for pid := range open {
			pids = append(pids, pid)
		}
		slices.Sort(pids)
		for _, pid := range pids {
			if err := abortMarker(ctx, cl, end.Topic, end.Partition, pid, open[pid]); err != nil {
				return marked, err
			}
			marked++
		}
	}
	return marked, nil
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
