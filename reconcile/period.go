package reconcile

import (
	"fmt"
	"time"

	"github.com/paystream/paystream/toss"
)

// Period is a run of whole days in Korea Standard Time (Toss's days), First to Last
// inclusive, as "2006-01-02".
type Period struct {
	First string `json:"first"`
	Last  string `json:"last"`
}

// MaxPeriodDays bounds one period.
const MaxPeriodDays = 92

const dateLayout = "2006-01-02"

// ParsePeriod reads a period from its first and last day ("2006-01-02"). Errors name what
// is wrong: a malformed date, last before first, or more than MaxPeriodDays days.
func ParsePeriod(first, last string) (Period, error) {
	f, err := time.ParseInLocation(dateLayout, first, toss.KST)
	if err != nil {
		return Period{}, fmt.Errorf("from %q is not a date like 2026-01-31", first)
	}
	l, err := time.ParseInLocation(dateLayout, last, toss.KST)
	if err != nil {
		return Period{}, fmt.Errorf("to %q is not a date like 2026-01-31", last)
	}
	if l.Before(f) {
		return Period{}, fmt.Errorf("to %s is before from %s", last, first)
	}
	if days := int(l.Sub(f).Hours()/24) + 1; days > MaxPeriodDays {
		return Period{}, fmt.Errorf("%d days is more than %d", days, MaxPeriodDays)
	}
	return Period{First: first, Last: last}, nil
}

// Day is the period of the one KST day t falls on.
func Day(t time.Time) Period {
	d := t.In(toss.KST).Format(dateLayout)
	return Period{First: d, Last: d}
}

// ID names the period in stream names: "20260102-20260108".
func (p Period) ID() string {
	return p.start().Format("20060102") + "-" + p.lastDay().Format("20060102")
}

func (p Period) String() string { return p.First + " … " + p.Last }

// start is the period's first instant; end the instant after it.
func (p Period) start() time.Time {
	t, _ := time.ParseInLocation(dateLayout, p.First, toss.KST)
	return t
}

func (p Period) lastDay() time.Time {
	t, _ := time.ParseInLocation(dateLayout, p.Last, toss.KST)
	return t
}

func (p Period) end() time.Time { return p.lastDay().AddDate(0, 0, 1) }

// Start and End bound the period: [Start, End).
func (p Period) Start() time.Time { return p.start() }
func (p Period) End() time.Time   { return p.end() }
