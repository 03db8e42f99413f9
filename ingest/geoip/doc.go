// Package geoip derives the country of an event's IP address from a local MaxMind DB file
// (.mmdb: MaxMind GeoLite2/GeoIP2 Country or City, DB-IP Country/City Lite, or any database of
// that format whose records carry country.iso_code).
//
// DB.Enrich is an ingest.Enricher: it sets Event.Country (ISO 3166-1 alpha-2, upper case)
// when the event has an IP and no country, from the record's country, else its
// registered_country. It never fails: an unparsable IP, an address the database does not
// know (private ranges, documentation ranges) or a record without a country leave the event
// as it was, and are counted.
//
// No network: the file is read (memory-mapped) once by Open; nothing is downloaded or
// updated here. Keeping the file current (MaxMind and DB-IP publish monthly) is the
// operator's job; Metadata reports the build time so staleness can be checked. To pick up a
// new file, Open it and swap the enricher; Close the old DB only after no Enrich call can
// still use it.
//
// Concurrency: Enrich may be called from any number of goroutines. Close must not run
// concurrently with Enrich.
package geoip
