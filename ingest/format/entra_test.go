package format_test

import (
	"errors"
	"testing"

	"breachd/event"
	"breachd/ingest/format"
)

func TestEntraGolden(t *testing.T) {
	golden(t, "entra-signins", "testdata/entra/signins.jsonl", format.Entra(format.EntraOptions{}))
}

func TestEntraOrgOverride(t *testing.T) {
	line := []byte(`{"id":"x1","createdDateTime":"2026-11-02T07:01:13Z","userPrincipalName":"ola@skole365.onmicrosoft.com","appId":"app","status":{"errorCode":0}}`)
	ev, err := format.Entra(format.EntraOptions{Org: "bergen.kommune.no"})(line)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Org != "bergen.kommune.no" {
		t.Errorf("org = %q, want the override", ev.Org)
	}
	ev, _ = format.Entra(format.EntraOptions{})(line)
	if ev.Org != "skole365.onmicrosoft.com" {
		t.Errorf("org = %q, want the UPN domain", ev.Org)
	}
}

func TestEntraRecordsBatch(t *testing.T) {
	batch := []byte(`{"records":[
	 {"category":"SignInLogs","properties":{"id":"r1","createdDateTime":"2026-11-02T07:42:00Z","userPrincipalName":"a@oslo.kommune.no","appId":"x","status":{"errorCode":0}}},
	 {"category":"ServicePrincipalSignInLogs","properties":{"id":"sp","createdDateTime":"2026-11-02T07:42:00Z","appId":"x","status":{"errorCode":0}}},
	 {"category":"SignInLogs","properties":{"id":"r2","createdDateTime":"2026-11-02T07:42:01Z","userPrincipalName":"b@oslo.kommune.no","appId":"x","status":{"errorCode":50126}}}]}`)
	evs, err := format.EntraRecords(format.EntraOptions{})(batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID != "entra-r1" || evs[1].ID != "entra-r2" || evs[1].Result != "failure" {
		t.Fatalf("got %+v, want r1 success and r2 failure (the service principal left out)", evs)
	}
	// The single-event Parser rejects a batch of more than one, saying what to use.
	_, err = format.Entra(format.EntraOptions{})(batch)
	var ie *event.InvalidError
	if !errors.As(err, &ie) || ie.Field != "records" {
		t.Errorf("err = %v, want invalid records", err)
	}
	// A bad record rejects the batch and names its index.
	bad := []byte(`{"records":[{"category":"SignInLogs","properties":{"id":"r1","createdDateTime":"2026-11-02T07:42:00Z","userPrincipalName":"a@oslo.kommune.no","appId":"x","status":{"errorCode":0}}},{"category":"SignInLogs","properties":{"id":"r2","createdDateTime":"nope","userPrincipalName":"b@oslo.kommune.no","appId":"x","status":{"errorCode":0}}}]}`)
	_, err = format.EntraRecords(format.EntraOptions{})(bad)
	if !errors.As(err, &ie) || ie.Field != "records.1.properties.createdDateTime" {
		t.Errorf("err = %v, want invalid records.1.properties.createdDateTime", err)
	}
}
