package aggregate_test

import (
	"reflect"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

var _ = Describe("a cloned State", func() {
	It("shares nothing with the original that writing through the clone could change", func() {
		// Every exported field reachable from State is set (so a field added later is
		// covered), then every one reachable from the clone is changed in place.
		var original, want State
		fill(reflect.ValueOf(&original).Elem())
		fill(reflect.ValueOf(&want).Elem())
		clone := original.Clone()
		Expect(clone).To(Equal(original))
		scribble(reflect.ValueOf(&clone).Elem())
		Expect(clone).NotTo(Equal(original))
		Expect(original).To(Equal(want))
	})
})

var timeType = reflect.TypeFor[time.Time]()

// fill sets every exported field reachable from v (and times): slices get two elements,
// pointers a value.
func fill(v reflect.Value) {
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(t0))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	default:
		Fail("fill: no case for " + v.Type().String())
	}
}

// scribble changes every exported field reachable from v (and times) in place, through
// pointers and slices.
func scribble(v reflect.Value) {
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Second)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Pointer:
		scribble(v.Elem())
	case reflect.Slice:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	}
}
