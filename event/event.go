package event

import (
	"time"
)

// Kind is the kind of a canonical event.
type Kind string

// The three kinds of events.md.
const (
	KindAuth      Kind = "auth"
	KindAccess    Kind = "access"
	KindDirectory Kind = "directory"
)

// Directory operations (the `op` field of a directory event).
const (
	OpPerson       = "person"
	OpMembership   = "membership"
	OpGuardianship = "guardianship"
)

// Event is one canonical event. Fields not used by its Kind are zero. The JSON field names are
// those of events.md; Marshal writes only the fields that are set.
type Event struct {
	Kind Kind      `json:"kind"`
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Org  string    `json:"org"`

	// auth
	User        string `json:"user,omitempty"` // auth; directory person and membership
	Service     string `json:"service,omitempty"`
	ServiceName string `json:"service_name,omitempty"`
	Result      string `json:"result,omitempty"`
	Method      string `json:"method,omitempty"`
	IP          string `json:"ip,omitempty"`
	Country     string `json:"country,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`

	// access
	Actor     string `json:"actor,omitempty"`
	ActorRole string `json:"actor_role,omitempty"`
	Action    string `json:"action,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Group     string `json:"group,omitempty"` // access; directory membership
	Records   int64  `json:"records,omitempty"`

	// directory
	Op                 string   `json:"op,omitempty"`
	Affiliations       []string `json:"affiliations,omitempty"`
	PrimaryAffiliation string   `json:"primary_affiliation,omitempty"`
	Schools            []string `json:"schools,omitempty"`
	NINHash            string   `json:"nin_hash,omitempty"`
	HiddenIdentity     bool     `json:"hidden_identity,omitempty"`
	Active             *bool    `json:"active,omitempty"`
	GoType             string   `json:"go_type,omitempty"`
	Role               string   `json:"role,omitempty"`
	ContactTeacher     bool     `json:"contact_teacher,omitempty"`
	School             string   `json:"school,omitempty"`
	Change             string   `json:"change,omitempty"`
	Guardian           string   `json:"guardian,omitempty"`
	Child              string   `json:"child,omitempty"`
	Status             string   `json:"status,omitempty"`
}

// Account is the account an event is about, the key that per-account state (windows,
// incidents, partitions) is kept under: the user of an auth event, the actor of an access
// event, the user (or, for guardianship, the guardian) of a directory event.
func (e *Event) Account() string {
	switch e.Kind {
	case KindAuth:
		return e.User
	case KindAccess:
		return e.Actor
	case KindDirectory:
		if e.Op == OpGuardianship {
			return e.Guardian
		}
		return e.User
	}
	return ""
}

// IsActive reports the directory person's active flag; an absent flag means active.
func (e *Event) IsActive() bool { return e.Active == nil || *e.Active }
