package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ReadCommitted calls each, in offset order, with every committed data record of one
// partition of topic whose offset is in [from, to), read with isolation level
// read_committed. to is normally the partition's last stable offset as listed just before
// (kadm's ListCommittedOffsets); records at or past it are not read. It returns once its
// fetch position has reached to, or with the first error; each runs on the caller's
// goroutine. Safe for concurrent use.
//
// Why it does not poll a consumer until it sees the record at to-1: that record may never
// come. The in-process broker (github.com/twmb/franz-go/pkg/kfake, persist.go,
// loadPartitionFullReplay) recovers from a crash — a kill -9 with a data directory — by
// treating the transactions that were open as aborted without writing their abort
// markers, so a partition can end in aborted records with no control record after them.
// read_committed drops those records and a consumer waiting for offset to-1 waits forever
// (the forwarder's start-up hung so after about half the kills). A real broker always
// writes the marker, but the position is the right end condition either way: this issues
// the Fetch requests itself and takes the next position from kgo.ProcessFetchPartition,
// which moves past aborted batches and control records alike.
func ReadCommitted(ctx context.Context, cl *kgo.Client, topic string, partition int32, from, to int64, each func(*kgo.Record)) error {
	return readRange(ctx, cl, topic, partition, from, to, kgo.ProcessFetchPartitionOpts{IsolationLevel: kgo.ReadCommitted()}, each)
}

// maxFetchRetries bounds readRange's retries of one fetch that the broker answers with a
// retriable error, waiting fetchRetryWait longer each time (about 2 s in all).
const (
	maxFetchRetries = 8
	fetchRetryWait  = 50 * time.Millisecond
)

// readRange reads [from, to) of one partition by position with opts' isolation level and
// control-record choice.
func readRange(ctx context.Context, cl *kgo.Client, topic string, partition int32, from, to int64, opts kgo.ProcessFetchPartitionOpts, each func(*kgo.Record)) error {
	if from >= to {
		return nil
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("read %s/%d [%d, %d): %w", topic, partition, from, to, fmt.Errorf(format, args...))
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return fail("metadata: %w", err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return fail("metadata: topic: %v", td.Err)
	}
	pd, ok := td.Partitions[partition]
	if !ok || pd.Err != nil || pd.Leader < 0 {
		return fail("metadata: partition has no leader: %v", pd.Err)
	}
	leader := cl.Broker(int(pd.Leader))
	retries := 0
	for next := from; next < to; {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 500, 1, 8<<20
		if opts.IsolationLevel == kgo.ReadCommitted() {
			req.IsolationLevel = 1 // the broker serves up to the last stable offset
		}
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, td.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, next, 4<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, leader)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		var fp kgo.FetchPartition
		var after int64
		if err == nil {
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return fail("fetch at %d: the broker answered for %d topics", next, len(resp.Topics))
			}
			opts.Offset, opts.Topic, opts.Partition = next, topic, partition
			fp, after = kgo.ProcessFetchPartition(opts, &resp.Topics[0].Partitions[0], kgo.DefaultDecompressor(), nil)
			err = fp.Err
		}
		if err != nil {
			// A broker that has just created the topic may not serve it by id yet
			// (UNKNOWN_TOPIC_ID), or be moving its leadership: it says so, and asking again
			// shortly answers.
			if kerr.IsRetriable(err) && retries < maxFetchRetries {
				retries++
				if !Sleep(ctx, time.Duration(retries)*fetchRetryWait) {
					return fail("fetch at %d: %w", next, errors.Join(err, ctx.Err()))
				}
				continue
			}
			return fail("fetch at %d: %w", next, err)
		}
		retries = 0
		for _, r := range fp.Records {
			if r.Offset < to {
				each(r)
			}
		}
		if after <= next {
			// Below the last stable offset there is always something to move past; a
			// broker that serves nothing there has lost records (or its leadership).
			return fail("fetch at %d: no progress (last stable offset %d)", next, fp.LastStableOffset)
		}
		next = after
	}
	return nil
}
