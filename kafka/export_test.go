package kafka

import "math"

// SegmentIndex is the index RepairIndexes derives for the segment file at path, the first
// of its partition.
func SegmentIndex(path string) ([]byte, error) {
	idx, _, err := segmentIndex(path, math.MinInt64)
	return idx, err
}
