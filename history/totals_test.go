package history

import (
	"reflect"
	"testing"
)

// TestAccessTotals: a person counts once per resource and once overall, however many actions
// the rows hold for them; records and events add up.
func TestAccessTotals(t *testing.T) {
	rows := []AccessRow{ // sorted by subject, resource, action, as the query returns them
		{Subject: "ola", Resource: "absence", Action: "update", Events: 1, Records: 2},
		{Subject: "ola", Resource: "grades", Action: "export", Events: 1, Records: 30},
		{Subject: "ola", Resource: "grades", Action: "view", Events: 2, Records: 4},
		{Subject: "per", Resource: "absence", Action: "view", Events: 5, Records: 5},
		{Subject: "per", Resource: "grades", Action: "view", Events: 1, Records: 1},
		{Subject: "siv", Resource: "grades", Action: "export", Events: 1, Records: 40},
	}
	got := accessTotals(rows)
	want := AccessSummary{Rows: rows,
		ByResource: []AccessTotal{
			{Resource: "absence", People: 2, Records: 7, Events: 6},
			{Resource: "grades", People: 3, Records: 75, Events: 5},
		},
		Total: AccessTotal{People: 3, Records: 82, Events: 11},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("accessTotals:\n got %+v\nwant %+v", got, want)
	}
	if got := accessTotals(nil); !reflect.DeepEqual(got, AccessSummary{}) {
		t.Errorf("accessTotals(nil) = %+v, want the zero summary", got)
	}
}
