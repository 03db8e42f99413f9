package bus

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Range is the stream sequences First to Last, both included.
type Range struct{ First, Last uint64 }

// String is "First-Last", or "First" for one sequence.
func (r Range) String() string {
	if r.First == r.Last {
		return strconv.FormatUint(r.First, 10)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Ranges is a set of sequences as sorted, disjoint, non-adjacent ranges.
type Ranges []Range

// rangesOf is the set of seqs (in any order, duplicates allowed).
func rangesOf(seqs []uint64) Ranges {
	s := slices.Clone(seqs)
	slices.Sort(s)
	var out Ranges
	for _, q := range s {
		if n := len(out); n > 0 && q <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, q)
			continue
		}
		out = append(out, Range{q, q})
	}
	return out
}

// union is rs and o together.
func (rs Ranges) union(o ...Range) Ranges {
	all := append(slices.Clone(rs), o...)
	slices.SortFunc(all, func(a, b Range) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	var out Ranges
	for _, r := range all {
		if n := len(out); n > 0 && r.First <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// minus is rs without the sequences of o.
func (rs Ranges) minus(o Ranges) Ranges {
	var out Ranges
	for _, r := range rs {
		cur := []Range{r}
		for _, x := range o {
			var next []Range
			for _, c := range cur {
				if x.Last < c.First || x.First > c.Last {
					next = append(next, c)
					continue
				}
				if x.First > c.First {
					next = append(next, Range{c.First, x.First - 1})
				}
				if x.Last < c.Last {
					next = append(next, Range{x.Last + 1, c.Last})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}

// above is the part of rs above seq.
func (rs Ranges) above(seq uint64) Ranges {
	var out Ranges
	for _, r := range rs {
		if r.Last <= seq {
			continue
		}
		out = append(out, Range{max(r.First, seq+1), r.Last})
	}
	return out
}

// Count is the number of sequences in rs.
func (rs Ranges) Count() uint64 {
	var n uint64
	for _, r := range rs {
		n += r.Last - r.First + 1
	}
	return n
}

// String is the ranges separated by commas ("12-40,77").
func (rs Ranges) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// parseRanges reads what Ranges.String writes.
func parseRanges(s string) (Ranges, error) {
	var out Ranges
	if s == "" {
		return nil, nil
	}
	for p := range strings.SplitSeq(s, ",") {
		a, b, found := strings.Cut(p, "-")
		first, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sequence range %q: %w", p, err)
		}
		last := first
		if found {
			if last, err = strconv.ParseUint(b, 10, 64); err != nil || last < first {
				return nil, fmt.Errorf("sequence range %q: want first-last", p)
			}
		}
		out = out.union(Range{first, last})
	}
	return out, nil
}
