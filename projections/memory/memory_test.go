package memory_test

import (
	"context"

	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/memory"
	"github.com/paystream/paystream/projections/readmodeltest"
)

var _ = readmodeltest.DescribeStore("memory", func(ctx context.Context) projections.Store { return memory.New() })
