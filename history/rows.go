package history

// The columns of the lookups' rows as people see them (breachd history, output.RowsOf), in the
// order of the Row methods.
var (
	LoginColumns    = []string{"service", "service_name", "first", "last", "successes", "failures", "ips", "countries"}
	AccessColumns   = []string{"subject", "resource", "action", "events", "records", "first", "last"}
	TotalColumns    = []string{"resource", "people", "records", "events"}
	SubjectColumns  = []string{"actor", "actor_role", "resource", "action", "events", "records", "first", "last"}
	TimelineColumns = []string{"time", "kind", "id", "action", "target", "resource", "records", "ip", "country"}
)

// Row is r under LoginColumns.
func (r LoginRow) Row() []any {
	return []any{r.Service, r.ServiceName, r.First, r.Last, r.Successes, r.Failures, r.IPs, r.Countries}
}

// Row is r under AccessColumns.
func (r AccessRow) Row() []any {
	return []any{r.Subject, r.Resource, r.Action, r.Events, r.Records, r.First, r.Last}
}

// Row is r under TotalColumns.
func (r AccessTotal) Row() []any { return []any{r.Resource, r.People, r.Records, r.Events} }

// Row is r under SubjectColumns.
func (r SubjectRow) Row() []any {
	return []any{r.Actor, r.ActorRole, r.Resource, r.Action, r.Events, r.Records, r.First, r.Last}
}

// Row is r under TimelineColumns.
func (r TimelineRow) Row() []any {
	return []any{r.Time, r.Kind, r.ID, r.Action, r.Target, r.Resource, r.Records, r.IP, r.Country}
}
