package httpapi

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gorilla/mux"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.yaml.in/yaml/v3"
)

var _ = Describe("openapi.yaml", func() {
	It("documents exactly the routes the handler serves", func() {
		var doc struct {
			Paths map[string]map[string]any `yaml:"paths"`
		}
		Expect(yaml.Unmarshal(openAPI, &doc)).To(Succeed())
		var documented []string
		for path, ops := range doc.Paths {
			for method := range ops {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}

		var served []string
		router := NewHandler(nil, Options{}).(*mux.Router)
		Expect(router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			path, err := route.GetPathTemplate()
			Expect(err).NotTo(HaveOccurred())
			methods, err := route.GetMethods()
			Expect(err).NotTo(HaveOccurred())
			for _, m := range methods {
				served = append(served, m+" "+path)
			}
			return nil
		})).To(Succeed())
		sort.Strings(documented)
		sort.Strings(served)
		Expect(served).To(Equal(documented))
		Expect(served).To(ContainElement(http.MethodPost + " /v1/payments/confirm"))
	})
})
