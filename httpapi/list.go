package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
)

// ReadModel is what the API needs of the read models (projections).
type ReadModel interface {
	Payment(ctx context.Context, orderID string) (projections.Payment, error)
	List(ctx context.Context, f projections.Filter) (projections.Page, error)
	WaitFor(ctx context.Context, p eventstore.Position) error
}

// readWait bounds how long a read waits for the read model to catch up.
const readWait = 3 * time.Second

// errReadModelLagging: the read model did not reach the requested position in time.
var errReadModelLagging = errors.New("read model has not caught up yet")

// catchUp waits until the read model has applied ?wait=<position> and every event this
// instance appended (read-your-writes).
func (a *api) catchUp(r *http.Request) error {
	var target eventstore.Position
	if v := r.URL.Query().Get("wait"); v != "" {
		p, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return &badRequest{field: "wait", msg: "must be an event position (a non-negative integer)"}
		}
		target = eventstore.Position(p)
	}
	if a.written != nil {
		target = max(target, a.written())
	}
	if target == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), readWait)
	defer cancel()
	if err := a.readModel.WaitFor(ctx, target); err != nil {
		return errReadModelLagging
	}
	return nil
}

// paymentFromReadModel serves GET /v1/payments/{orderId} from the read model. A payment the
// read model does not have yet (just created on another instance) falls back to the event
// store, so 404 still means "no such payment".
func (a *api) paymentFromReadModel(w http.ResponseWriter, r *http.Request) {
	if err := a.catchUp(r); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	orderID := mux.Vars(r)["orderId"]
	p, err := a.readModel.Payment(r.Context(), orderID)
	if errors.Is(err, projections.ErrNotFound) && a.payments != nil {
		loaded, lerr := a.payments.Load(r.Context(), orderID)
		if lerr != nil {
			writeError(w, r, a.log, lerr)
			return
		}
		writeJSON(w, http.StatusOK, viewOf(loaded))
		return
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOfRow(p))
}

type listView struct {
	Items      []paymentView `json:"items"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// list serves GET /v1/payments from the read model.
func (a *api) list(w http.ResponseWriter, r *http.Request) {
	if a.readModel == nil {
		writeProblem(w, Problem{Type: problemBase + "no-read-model", Title: "No read model is configured",
			Status: http.StatusNotImplemented})
		return
	}
	f, err := listFilter(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := a.catchUp(r); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	page, err := a.readModel.List(r.Context(), f)
	if errors.Is(err, projections.ErrBadCursor) {
		err = &badRequest{field: "cursor", msg: "is not a cursor this API handed out"}
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := listView{Items: make([]paymentView, len(page.Items)), NextCursor: page.NextCursor}
	for i, p := range page.Items {
		out.Items[i] = viewOfRow(p)
	}
	writeJSON(w, http.StatusOK, out)
}

func listFilter(r *http.Request) (projections.Filter, error) {
	q := r.URL.Query()
	f := projections.Filter{SellerID: q.Get("sellerId"), BuyerID: q.Get("buyerId"), Cursor: q.Get("cursor")}
	if err := aggregate.CheckText("sellerId", f.SellerID, aggregate.MaxIDLength); err != nil {
		return f, err
	}
	if err := aggregate.CheckText("buyerId", f.BuyerID, aggregate.MaxIDLength); err != nil {
		return f, err
	}
	if s := q.Get("status"); s != "" {
		switch st := aggregate.Status(s); st {
		case aggregate.StatusNotStarted, aggregate.StatusExecuting, aggregate.StatusSuccess, aggregate.StatusFailure, aggregate.StatusUnknown,
			aggregate.StatusPartialCanceled, aggregate.StatusCanceled, aggregate.StatusWaitingForDeposit:
			f.Status = st
		default:
			return f, &badRequest{field: "status", msg: "must be one of NOT_STARTED, EXECUTING, SUCCESS, FAILURE, UNKNOWN, WAITING_FOR_DEPOSIT, PARTIAL_CANCELED, CANCELED"}
		}
	}
	for _, t := range []struct {
		name string
		into *time.Time
	}{{"createdFrom", &f.CreatedFrom}, {"createdTo", &f.CreatedTo}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, &badRequest{field: t.name, msg: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"}
			}
			*t.into = at
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > projections.MaxLimit {
			return f, &badRequest{field: "limit", msg: "must be an integer from 1 to " + strconv.Itoa(projections.MaxLimit)}
		}
		f.Limit = n
	}
	if f.Cursor != "" {
		if _, err := projections.DecodeCursor(f.Cursor); err != nil {
			return f, &badRequest{field: "cursor", msg: "is not a cursor this API handed out"}
		}
	}
	return f, nil
}

// viewOfRow is a read model row as the API returns payments: the same view as a payment
// folded from its stream.
func viewOfRow(p projections.Payment) paymentView {
	return viewOf(commands.Payment{State: projections.StateOf(p), Revision: p.Revision})
}
