// Package catalog prices checkouts from a JSON product list (the embedded mode's sample
// catalog, or a file named by PAYSTREAM_CATALOG). A Catalog is immutable after Parse and
// safe for concurrent use.
package catalog

import (
	"bytes"
	"fmt"
	"os"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

// Catalog is a fixed set of products by id.
type Catalog struct {
	products map[string]commands.Product
}

var _ commands.Catalog = (*Catalog)(nil)

// Parse reads {"products": [{"id","name","sellerId","price"}]}; every product needs all four,
// a unique id and a positive whole KRW price no checkout limit could exceed
// (aggregate.CeilingMaxTotal).
func Parse(data []byte) (*Catalog, error) {
	var doc struct {
		Products []commands.Product `json:"products"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Catalog{products: make(map[string]commands.Product, len(doc.Products))}
	for i, p := range doc.Products {
		switch {
		case p.ID == "" || p.Name == "" || p.SellerID == "":
			return nil, fmt.Errorf("catalog: products[%d]: id, name and sellerId are required", i)
		case !p.Price.IsPositive() || !p.Price.Equal(p.Price.Truncate(0)):
			return nil, fmt.Errorf("catalog: products[%d] (%s): price must be a positive whole number of KRW", i, p.ID)
		case p.Price.GreaterThan(decimal.NewFromInt(aggregate.CeilingMaxTotal)):
			// No checkout could ever carry it; most likely a typo or a unit mix-up.
			return nil, fmt.Errorf("catalog: products[%d] (%s): price must be at most %d KRW", i, p.ID, int64(aggregate.CeilingMaxTotal))
		}
		if _, dup := c.products[p.ID]; dup {
			return nil, fmt.Errorf("catalog: products[%d]: duplicate id %q", i, p.ID)
		}
		c.products[p.ID] = p
	}
	if len(c.products) == 0 {
		return nil, fmt.Errorf("catalog: no products")
	}
	return c, nil
}

// Load parses the catalog file at path.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return Parse(data)
}

// Product returns the product with this id.
func (c *Catalog) Product(id string) (commands.Product, bool) {
	p, ok := c.products[id]
	return p, ok
}
