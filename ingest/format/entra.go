package format

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"breachd/event"
	"breachd/ingest"
)

// EntraOptions configure the Microsoft Entra ID sign-in log parser. The zero value is usable.
type EntraOptions struct {
	// Org, if set, is the organisation of every event. Default: the domain of the user
	// principal name, lower-cased (ola@skole.kommune.no → skole.kommune.no), which is the
	// Feide realm when the tenant's UPN suffix is the realm; set Org when it is not.
	Org string
}

// entraSignIn is the part of a Microsoft Graph signIn resource (and of the properties of an
// Azure Monitor SignInLogs record, which has the same shape) that the mapping reads.
type entraSignIn struct {
	ID                        string `json:"id"`
	CreatedDateTime           string `json:"createdDateTime"`
	UserPrincipalName         string `json:"userPrincipalName"`
	AppID                     string `json:"appId"`
	AppDisplayName            string `json:"appDisplayName"`
	ResourceID                string `json:"resourceId"`
	ResourceDisplayName       string `json:"resourceDisplayName"`
	IPAddress                 string `json:"ipAddress"`
	UserAgent                 string `json:"userAgent"`
	AuthenticationRequirement string `json:"authenticationRequirement"`
	Status                    *struct {
		ErrorCode *json.Number `json:"errorCode"`
	} `json:"status"`
	Location *struct {
		CountryOrRegion string `json:"countryOrRegion"`
	} `json:"location"`
	AuthenticationDetails []struct {
		AuthenticationMethod          string `json:"authenticationMethod"`
		Succeeded                     *bool  `json:"succeeded"`
		AuthenticationStepRequirement string `json:"authenticationStepRequirement"`
	} `json:"authenticationDetails"`
}

// entraRecord is one Azure Monitor diagnostic record (Event Hub, storage account export).
type entraRecord struct {
	Time       string          `json:"time"`
	Category   string          `json:"category"`
	ResultType string          `json:"resultType"`
	Properties json.RawMessage `json:"properties"`
}

// Entra returns the parser of Microsoft Entra ID sign-in logs: one JSON object per record,
// either a Microsoft Graph signIn object (the JSON Lines an export through Graph or az writes)
// or one Azure Monitor diagnostic record with the sign-in under "properties". A
// {"records":[...]} batch is accepted when it holds exactly one record; batches of more need
// EntraRecords (a MultiParser) because a Parser returns one event.
func Entra(opts EntraOptions) ingest.Parser {
	return func(data []byte) (event.Event, error) {
		evs, err := parseEntra(&opts, data, 1)
		if err != nil {
			return event.Event{}, err
		}
		return evs[0], nil
	}
}

// EntraRecords is the MultiParser of Entra sign-in logs: like Entra, but a {"records":[...]}
// batch gives one event per record. Records that are not user sign-ins are left out; a
// record that is invalid rejects the batch, naming its index.
func EntraRecords(opts EntraOptions) MultiParser {
	return func(data []byte) ([]event.Event, error) { return parseEntra(&opts, data, 0) }
}

// parseEntra parses data; limit > 0 bounds the records a batch may hold.
func parseEntra(o *EntraOptions, data []byte, limit int) ([]event.Event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, invalid("", "not a JSON object")
	}
	var top struct {
		Records []json.RawMessage `json:"records"`
		entraRecord
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, invalid("", "not a sign-in log object: %v", err)
	}
	if top.Records == nil {
		ev, err := entraOne(o, data, &top.entraRecord)
		if err != nil {
			return nil, err
		}
		return []event.Event{ev}, nil
	}
	if limit > 0 && len(top.Records) > limit {
		return nil, invalid("records", "batch of %d sign-ins: this parser returns one event per record; use a multi-event parser (format.EntraRecords)", len(top.Records))
	}
	evs := make([]event.Event, 0, len(top.Records))
	for i, r := range top.Records {
		ev, err := entraOne(o, r, nil)
		if err != nil {
			if isSkip(err) {
				continue
			}
			if ie, ok := err.(*event.InvalidError); ok {
				ie.Field = "records." + itoa(i) + dotted(ie.Field)
			}
			return nil, err
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return nil, skipf("no user sign-in in the batch")
	}
	return evs, nil
}

// entraOne maps one Graph signIn object or one diagnostic record; rec is data's record
// envelope when the caller has decoded it already, else nil.
func entraOne(o *EntraOptions, data []byte, rec *entraRecord) (event.Event, error) {
	if rec == nil {
		rec = new(entraRecord)
		if err := json.Unmarshal(data, rec); err != nil {
			return event.Event{}, invalid("", "not a sign-in log object: %v", err)
		}
	}
	body, prefix := data, ""
	if len(rec.Properties) > 0 && string(rec.Properties) != "null" {
		switch rec.Category {
		case "SignInLogs", "NonInteractiveUserSignInLogs", "":
		default: // ServicePrincipalSignInLogs, ManagedIdentitySignInLogs, AuditLogs: no user
			return event.Event{}, skipf("category %q is not a user sign-in", rec.Category)
		}
		body, prefix = rec.Properties, "properties."
	}
	var s entraSignIn
	if err := json.Unmarshal(body, &s); err != nil {
		return event.Event{}, invalid(strings.TrimSuffix(prefix, "."), "not a signIn object: %v", err)
	}
	ev := event.Event{Kind: event.KindAuth}
	if strings.TrimSpace(s.ID) == "" {
		return event.Event{}, invalid(prefix+"id", "required")
	}
	ev.ID = "entra-" + s.ID
	created := s.CreatedDateTime
	if created == "" {
		created = rec.Time
	}
	t, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return event.Event{}, invalid(prefix+"createdDateTime", "not an RFC 3339 time: %q", created)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return event.Event{}, invalid(prefix+"createdDateTime", "%q is outside years 0001-9999", created)
	}
	ev.Time = t.UTC()
	if s.UserPrincipalName == "" {
		return event.Event{}, invalid(prefix+"userPrincipalName", "required")
	}
	ev.User = strings.ToLower(s.UserPrincipalName)
	ev.Org = o.Org
	if ev.Org == "" {
		if ev.Org = orgOf(s.UserPrincipalName); ev.Org == "" {
			return event.Event{}, invalid(prefix+"userPrincipalName", "%q has no domain to take the organisation from (set the Org option)", s.UserPrincipalName)
		}
	}
	ev.Service = firstNonEmpty(s.AppID, s.ResourceID, s.AppDisplayName)
	if ev.Service == "" {
		return event.Event{}, invalid(prefix+"appId", "required (or resourceId or appDisplayName)")
	}
	ev.ServiceName = firstNonEmpty(s.AppDisplayName, s.ResourceDisplayName)
	code := rec.ResultType
	if s.Status != nil && s.Status.ErrorCode != nil {
		code = s.Status.ErrorCode.String()
	}
	switch code {
	case "0":
		ev.Result = "success"
	case "":
		return event.Event{}, invalid(prefix+"status.errorCode", "required")
	default:
		ev.Result = "failure"
	}
	ev.IP = s.IPAddress
	ev.UserAgent = s.UserAgent
	if s.Location != nil {
		ev.Country = countryCode(s.Location.CountryOrRegion)
	}
	ev.Method = entraMethod(&s, ev.Result == "success")
	return ev, nil
}

// entraMethod derives the canonical method: "sso" when every step was satisfied by an
// earlier token, "mfa" when a multi-factor step succeeded (or, without details, when MFA was
// required and the sign-in succeeded), "password" when a password step is the only factor,
// else the first step's method lower-cased, else "".
func entraMethod(s *entraSignIn, success bool) string {
	if len(s.AuthenticationDetails) == 0 {
		if success && s.AuthenticationRequirement == "multiFactorAuthentication" {
			return "mfa"
		}
		return ""
	}
	previously, mfa, password := true, false, false
	for _, d := range s.AuthenticationDetails {
		m := strings.ToLower(d.AuthenticationMethod)
		if m != "previously satisfied" {
			previously = false
		}
		ok := d.Succeeded == nil || *d.Succeeded
		if ok && strings.Contains(strings.ToLower(d.AuthenticationStepRequirement), "multi-factor") && m != "previously satisfied" {
			mfa = true
		}
		if m == "password" {
			password = true
		}
	}
	switch {
	case previously:
		return "sso"
	case mfa:
		return "mfa"
	case password:
		return "password"
	}
	return strings.ToLower(s.AuthenticationDetails[0].AuthenticationMethod)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
