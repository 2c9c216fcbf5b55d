package kafkamsg

import (
	"fmt"

	"github.com/go-json-experiment/json/v1"
)

// encode is every message's Marshal: JSON, errors naming the schema.
func encode(schema string, m any) ([]byte, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", schema, err)
	}
	return data, nil
}

// decodeValid decodes a message of schema that validates itself; errors wrap ErrMalformed.
func decodeValid[M interface{ Validate() error }](schema string, data []byte) (M, error) {
	var m, zero M
	if err := json.Unmarshal(data, &m); err != nil {
		return zero, fmt.Errorf("decode %s: %v: %w", schema, err, ErrMalformed)
	}
	if err := m.Validate(); err != nil {
		return zero, err
	}
	return m, nil
}
