package format_test

import (
	"testing"

	"breachd/ingest/format"
)

func TestECSGolden(t *testing.T) {
	golden(t, "ecs-auth", "testdata/ecs/auth.ndjson", format.ECS(format.ECSOptions{}))
}

// Without event.id the id comes from the canonical fields: the same document with its keys in
// another order, or with fields the contract does not use, gets the same id.
func TestECSContentID(t *testing.T) {
	a := `{"@timestamp":"2026-11-02T07:03:00Z","event":{"category":"authentication","outcome":"success"},"user":{"name":"per@bergen.kommune.no"},"service":{"name":"vdi"}}`
	b := `{"service":{"name":"vdi"},"user":{"name":"per@bergen.kommune.no"},"host":{"name":"x"},"event":{"outcome":"success","category":["authentication"]},"@timestamp":"2026-11-02T08:03:00+01:00"}`
	c := `{"@timestamp":"2026-11-02T07:03:01Z","event":{"category":"authentication","outcome":"success"},"user":{"name":"per@bergen.kommune.no"},"service":{"name":"vdi"}}`
	p := format.ECS(format.ECSOptions{})
	ea, err1 := p([]byte(a))
	eb, err2 := p([]byte(b))
	ec, err3 := p([]byte(c))
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if ea.ID != eb.ID {
		t.Errorf("reordered document: id %s != %s", eb.ID, ea.ID)
	}
	if ea.ID == ec.ID {
		t.Errorf("a second later: same id %s", ea.ID)
	}
}
