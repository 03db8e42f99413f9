package bus

import "testing"

func TestRanges(t *testing.T) {
	r := func(s string) Ranges {
		t.Helper()
		rs, err := parseRanges(s)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	cases := []struct{ name, got, want string }{
		{"of", rangesOf([]uint64{9, 3, 4, 5, 9, 11, 12}).String(), "3-5,9,11-12"},
		{"of nothing", rangesOf(nil).String(), ""},
		{"union", r("1-3,10").union(Range{4, 6}, Range{8, 9}).String(), "1-6,8-10"},
		{"union overlapping", r("5-10").union(Range{1, 7}, Range{9, 20}).String(), "1-20"},
		{"minus", r("1-10,20-30").minus(r("3-4,10,25-40")).String(), "1-2,5-9,20-24"},
		{"minus all", r("5-6").minus(r("1-10")).String(), ""},
		{"above", r("1-10,20-30").above(5).String(), "6-10,20-30"},
		{"above all", r("1-10").above(10).String(), ""},
		{"parse merges", r("7,1-3,4").String(), "1-4,7"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if n := r("1-10,20").Count(); n != 11 {
		t.Errorf("Count = %d, want 11", n)
	}
	for _, bad := range []string{"x", "5-3", "1-", "-4", "1,,2"} {
		if _, err := parseRanges(bad); err == nil {
			t.Errorf("parseRanges(%q) succeeded", bad)
		}
	}
}
