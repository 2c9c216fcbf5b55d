package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/shopspring/decimal"
)

// maxBodyBytes bounds every request body; a checkout with hundreds of items fits easily.
const maxBodyBytes = 64 << 10

// decodeJSON reads exactly one JSON object into dst, strictly, and reports problems with
// the field they concern. The decoder is encoding/json/v2's (go-json-experiment/json): it
// refuses duplicate member names (so "amount":1,"amount":61000 cannot smuggle a second
// value past a check), invalid UTF-8, trailing data, and numbers that do not fit the Go
// type exactly (1e3 or 2.5 into an int); unknown members are refused too.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &badRequest{status: http.StatusUnsupportedMediaType, msg: "Content-Type must be application/json"}
		}
	}
	err := json.UnmarshalRead(http.MaxBytesReader(w, r.Body, maxBodyBytes), dst, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	return decodeProblem(err)
}

// decodeProblem turns a decoder error into a badRequest naming the field.
func decodeProblem(err error) error {
	var (
		maxErr *http.MaxBytesError
		synErr *jsontext.SyntacticError
		semErr *json.SemanticError
		bad    *badRequest
		netErr net.Error
	)
	switch {
	case errors.As(err, &maxErr):
		return &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body exceeds %d bytes", maxBodyBytes)}
	case errors.As(err, &bad):
		// from one of our own field types (e.g. krw); the decoder knows where it was
		if errors.As(err, &semErr) && bad.field == "" {
			return &badRequest{status: bad.status, field: fieldName(semErr.JSONPointer), msg: bad.msg}
		}
		return bad
	case errors.As(err, &synErr):
		if synErr.ByteOffset == 0 && strings.Contains(synErr.Error(), "unexpected EOF") {
			return &badRequest{msg: "body is empty; a JSON object is required"}
		}
		if f := fieldName(synErr.JSONPointer); f != "" && (errors.Is(err, jsontext.ErrDuplicateName) || strings.Contains(synErr.Error(), "UTF-8")) {
			return &badRequest{field: f, msg: synErr.Err.Error()}
		}
		return &badRequest{msg: "malformed JSON: " + synErr.Error()}
	case errors.As(err, &semErr):
		field := fieldName(semErr.JSONPointer)
		switch {
		case errors.Is(err, json.ErrUnknownName):
			return &badRequest{field: field, msg: "unknown field"}
		case field == "":
			return &badRequest{msg: "body must be a JSON object"}
		case semErr.JSONKind == '0' && semErr.GoType != nil && strings.HasPrefix(semErr.GoType.Kind().String(), "int"):
			return &badRequest{field: field, msg: "must be a whole number written as plain digits, within range"}
		case semErr.GoType != nil:
			return &badRequest{field: field, msg: "must be a JSON " + jsonKind(semErr.GoType.Kind().String())}
		default:
			return &badRequest{field: field, msg: semErr.Error()}
		}
	case errors.As(err, &netErr) && netErr.Timeout():
		return &badRequest{status: http.StatusRequestTimeout, msg: "the body did not arrive in time"}
	default:
		return &badRequest{msg: "unreadable body: " + err.Error()}
	}
}

// fieldName turns a JSON pointer (/items/0/quantity) into the name the API documents
// (items[0].quantity).
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}

// krwPattern is a positive whole number of won written as plain digits: no sign, fraction,
// exponent or leading zero, and at most 15 digits (beyond any amount a checkout allows, and
// exactly representable where a client used a float).
var krwPattern = regexp.MustCompile(`^[1-9][0-9]{0,14}$`)

// krw is an amount of won as a client writes it: a JSON number of plain digits. 61000 is an
// amount; "61000", 61000.0, 6.1e4 and 1e400 are refused rather than interpreted.
type krw struct{ decimal.Decimal }

func (k *krw) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if v.Kind() != '0' || !krwPattern.Match(v) {
		return &badRequest{msg: "must be a positive whole number of KRW written as plain digits, e.g. 61000"}
	}
	k.Decimal, err = decimal.NewFromString(string(v))
	return err
}
