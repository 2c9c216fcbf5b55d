package kafka

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// RepairIndexes rebuilds, in the in-process broker's data directory dir, every segment
// index with fewer entries than its segment has batches. Call it before kfake.NewCluster
// opens dir. It returns the index files it rewrote; a directory kfake never wrote to
// (no partitions) gives none.
//
// Why: kfake (github.com/twmb/franz-go/pkg/kfake, persist.go, persistBatchToSegment) writes
// each batch to its segment file (N.dat) and then a 15-byte entry to the segment's index
// (N.idx): the partition leader epoch and whether the batch is part of a transaction. A
// kill -9 between the two writes leaves a batch with no entry, and its crash recovery
// (loadSegmentBatches) then reads the batch as outside any transaction and every later
// entry of the segment one batch off (it appends to the index as before, so the segment
// keeps more batches than entries). A transaction the kill left open is then not aborted
// for consumers: its records read as committed, though RecoverCrashed writes its abort
// marker. For the forwarder that was a checkpoint whose transaction never committed,
// read back as committed while its approvals were aborted: approvals never booked,
// payments never completed (the seeded kill -9 spec in cmd/paymentd, about once in 20-80
// runs with a busy disk). Both facts are in the segment itself (the batch header's leader
// epoch and transactional attribute, from which kfake took them), so the index is rebuilt
// from it. An index with an entry per batch is left as it is: after compaction kfake
// rewrites the index with the transaction flag cleared on batches whose transaction had
// ended, and they read as committed, as they are.
//
// The index format is kfake's, at the version go.mod pins; a spec (kfakeindex_test.go)
// checks that what RepairIndexes derives is byte for byte the index kfake writes, so an
// upgrade that changes it fails there. An index of another format version is left alone
// with an error.
func RepairIndexes(dir string) ([]string, error) {
	parts, err := os.ReadDir(filepath.Join(dir, "partitions"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repair kfake indexes: %w", err)
	}
	var repaired []string
	for _, p := range parts {
		if !p.IsDir() {
			continue
		}
		done, err := repairPartition(filepath.Join(dir, "partitions", p.Name()))
		repaired = append(repaired, done...)
		if err != nil {
			return repaired, fmt.Errorf("repair kfake indexes: %w", err)
		}
	}
	return repaired, nil
}

// kfake's index entry: version (1) | low byte of the CRC-32C of the rest | leader epoch
// (int32 LE) | max timestamp of this and earlier batches (int64 LE) | flags (bit 0: in a
// transaction).
const (
	kfakeIndexEntrySize = 15
	kfakeIndexVersion   = 1
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// repairPartition rebuilds the short indexes of one partition's segments, oldest first (an
// entry's max timestamp runs over the partition).
func repairPartition(pdir string) ([]string, error) {
	entries, err := os.ReadDir(pdir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range entries {
		if base, ok := strings.CutSuffix(e.Name(), ".dat"); ok {
			if n, err := strconv.ParseInt(base, 10, 64); err == nil {
				bases = append(bases, n)
			}
		}
	}
	slices.Sort(bases)
	var repaired []string
	maxTimestamp := int64(math.MinInt64)
	for _, base := range bases {
		var want []byte
		want, maxTimestamp, err = segmentIndex(filepath.Join(pdir, strconv.FormatInt(base, 10)+".dat"), maxTimestamp)
		if err != nil {
			return repaired, err
		}
		idxPath := filepath.Join(pdir, strconv.FormatInt(base, 10)+".idx")
		idx, err := os.ReadFile(idxPath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return repaired, err
		}
		if len(idx) >= kfakeIndexEntrySize && idx[0] != kfakeIndexVersion {
			return repaired, fmt.Errorf("%s: index format version %d, not %d: not repaired", idxPath, idx[0], kfakeIndexVersion)
		}
		if len(idx) >= len(want) {
			continue // every batch has its entry (kfake drops entries beyond the last batch)
		}
		if err := replaceFile(idxPath, want); err != nil {
			return repaired, err
		}
		repaired = append(repaired, idxPath)
	}
	return repaired, nil
}

// segmentIndex is the index kfake writes for the batches of the segment file at path, up
// to the first that is incomplete (a kill cut the write short; kfake truncates the segment
// there when it loads it), and the partition's max timestamp after them. It reads only
// the batch headers, where everything an entry holds is. It does not check the batches'
// CRCs: an entry past a damaged batch is one kfake drops with the batch, as it truncates
// the segment there.
func segmentIndex(path string, maxTimestamp int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, maxTimestamp, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var idx []byte
	// RecordBatch v2 header: baseOffset int64 | batchLength int32 | partitionLeaderEpoch
	// int32 | magic int8 | crc uint32 | attributes int16 | lastOffsetDelta int32 |
	// baseTimestamp int64 | maxTimestamp int64 | producerId int64 | producerEpoch int16 |
	// baseSequence int32 | records int32; batchLength counts from partitionLeaderEpoch on.
	var h [61]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			break // the end, or a header cut short
		}
		rest := int(int32(binary.BigEndian.Uint32(h[8:12]))) - (len(h) - 12)
		if rest < 0 {
			break
		}
		if n, _ := r.Discard(rest); n < rest {
			break // a batch cut short
		}
		maxTimestamp = max(maxTimestamp, int64(binary.BigEndian.Uint64(h[35:43])))
		var entry [kfakeIndexEntrySize]byte
		entry[0] = kfakeIndexVersion
		binary.LittleEndian.PutUint32(entry[2:6], binary.BigEndian.Uint32(h[12:16])) // leader epoch
		binary.LittleEndian.PutUint64(entry[6:14], uint64(maxTimestamp))
		if attrs := binary.BigEndian.Uint16(h[21:23]); attrs&0x10 != 0 && attrs&0x20 == 0 { // transactional, not a control batch
			entry[14] = 1
		}
		entry[1] = byte(crc32.Checksum(entry[2:], crc32c))
		idx = append(idx, entry[:]...)
	}
	return idx, maxTimestamp, nil
}

// replaceFile writes b to path through a temporary file renamed over it, both synced.
func replaceFile(path string, b []byte) error {
	tmp := path + ".repair"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
