package kafka

import "math"

// SegmentIndex is the index RepairIndexes derives for the one segment of a partition.
func SegmentIndex(seg []byte) []byte {
	idx, _ := segmentIndex(seg, math.MinInt64)
	return idx
}
