package format_test

import (
	"strings"
	"testing"

	"breachd/ingest"
	"breachd/ingest/format"
)

// BenchmarkParse measures each parser on one realistic accepted record. events/s is per
// core (the benchmark runs one goroutine): go test -run '^$' -bench Parse ./ingest/format/
func BenchmarkParse(b *testing.B) {
	lms, err := format.LoadMapping("testdata/mappings/lms.yaml")
	if err != nil {
		b.Fatal(err)
	}
	helse, err := format.LoadMapping("testdata/mappings/helsestasjon.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		parse ingest.Parser
		line  string
	}{
		{"canonical", ingest.Canonical(), `{"kind":"auth","id":"idp-1-000001","time":"2026-11-02T08:01:13.120+01:00","org":"bergen.kommune.no","user":"ola.nordmann@bergen.kommune.no","service":"https://lms.example.no/saml","result":"success","method":"password","ip":"193.157.1.20","country":"NO"}`},
		{"canonical-no-id", ingest.Canonical(), `{"kind":"auth","time":"2026-11-02T08:01:13.120+01:00","org":"bergen.kommune.no","user":"ola.nordmann@bergen.kommune.no","service":"https://lms.example.no/saml","result":"success","method":"password","ip":"193.157.1.20","country":"NO"}`},
		{"simplesamlphp", sspParser(b), "Nov  2 08:01:20 idp1 simplesamlphp[2214]: 5 STAT [a1b2c3d4e5] saml20-idp-SSO https://lms.example.no/saml https://idp.feide.no ola.nordmann@bergen.kommune.no"},
		{"simplesamlphp-debug-skip", sspParser(b), "Nov  2 08:01:13 idp1 simplesamlphp[2211]: 7 [a1b2c3d4e5] Session: 'default-sp' not valid because we are not authenticated."},
		{"entra", format.Entra(format.EntraOptions{}), `{"id":"66ea54eb-6301-4ee5-be62-ff5a759b0100","createdDateTime":"2026-11-02T07:01:13Z","userPrincipalName":"ola.nordmann@bergen.kommune.no","appId":"de8bc8b5-d9f9-48b1-a8ad-b748da725064","appDisplayName":"Graph Explorer","ipAddress":"193.157.1.20","clientAppUsed":"Browser","userAgent":"Mozilla/5.0","status":{"errorCode":0},"location":{"city":"Bergen","countryOrRegion":"NO"},"authenticationRequirement":"multiFactorAuthentication","authenticationDetails":[{"authenticationMethod":"Password","succeeded":true,"authenticationStepRequirement":"Primary authentication"},{"authenticationMethod":"Mobile app notification","succeeded":true,"authenticationStepRequirement":"Multi-factor authentication"}]}`},
		{"ecs", format.ECS(format.ECSOptions{}), `{"@timestamp":"2026-11-02T07:01:13.120Z","event":{"kind":"event","category":["authentication"],"type":["start"],"outcome":"success","id":"2Jx7f0kWQb6s","dataset":"okta.system"},"user":{"name":"ola.nordmann@bergen.kommune.no"},"source":{"ip":"193.157.1.20","geo":{"country_iso_code":"NO"}},"user_agent":{"original":"Mozilla/5.0"},"url":{"domain":"lms.example.no"}}`},
		{"mapping-lms", lms, `{"eventId":"9f1c2a77-0001","ts":"2026-11-02T08:03:50.120Z","tenant":"bergen.kommune.no","actor":{"upn":"kari.laerer@bergen.kommune.no","role":"Teacher"},"operation":"WRITE","category":"Assessment","targets":[{"type":"student","id":"ola.nordmann@bergen.kommune.no"}],"context":{"groupId":"fc:gogroup:bergen.kommune.no:u:NO974600951:8a-mat:2026-08-15:2027-06-20"},"client":{"ip":"193.157.1.20"}}`},
		{"mapping-helsestasjon", helse, `{"logg_id":88121,"tidspunkt":"02.11.2026 08:15:02","bruker":"anne.helsesykepleier","rolle":"HELSESYKEPLEIER","handling":"LES","journal":{"pasient_feide":"ola.nordmann@bergen.kommune.no","type":"journalnotat"},"kommune":"bergen.kommune.no","antall":1}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			data := []byte(c.line)
			if _, err := c.parse(data); (err != nil) != strings.HasSuffix(c.name, "-skip") {
				b.Fatalf("%s: err = %v", c.name, err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				_, _ = c.parse(data)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
