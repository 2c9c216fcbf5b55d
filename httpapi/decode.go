package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes bounds every request body; a checkout with hundreds of items fits easily.
const maxBodyBytes = 64 << 10

// decodeJSON reads exactly one JSON object into dst, strictly, and reports problems with
// the field they concern.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &badRequest{status: http.StatusUnsupportedMediaType, msg: "Content-Type must be application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.More() || dec.Decode(&struct{}{}) != io.EOF {
			return &badRequest{msg: "body must hold a single JSON object"}
		}
		return nil
	}
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body exceeds %d bytes", maxBodyBytes)}
	case errors.Is(err, io.EOF):
		return &badRequest{msg: "body is empty; a JSON object is required"}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return &badRequest{msg: "malformed JSON: " + err.Error()}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &badRequest{msg: "body must be a JSON object"}
		}
		return &badRequest{field: typeErr.Field, msg: "must be a JSON " + jsonKind(typeErr.Type.Kind().String())}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &badRequest{field: field, msg: "unknown field"}
	default:
		// e.g. decimal's own parse error for a non-numeric amount
		return &badRequest{msg: err.Error()}
	}
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
