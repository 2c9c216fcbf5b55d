package postgres_test

import (
	"context"

	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/postgres"
	"github.com/paystream/paystream/projections/readmodeltest"
)

var _ = readmodeltest.DescribeStore("postgres", func(ctx context.Context) projections.Store {
	s, err := postgres.Open(ctx, pool, postgres.WithSchema(freshSchema()))
	Expect(err).NotTo(HaveOccurred())
	return s
})
