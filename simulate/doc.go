// Package simulate generates a deterministic, realistic stream of canonical events
// (shared/docs/events.md) for Norwegian schools that log in through Feide: a directory snapshot,
// then school days of logins and accesses to personal data, with five breach scenarios injected
// at fixed times and their ground truth. It feeds `breachd run --demo`, `breachd simulate`
// (JSON Lines), tests and benchmarks.
//
// # Use
//
//	g, err := simulate.New(simulate.Defaults())
//	err = g.Run(ctx, func(e *event.Event) error { ... })  // or g.WriteJSONLines(ctx, w)
//	truth := g.Breaches()                                  // what a detector should find
//
// # The simulated world
//
// Orgs host organisations (municipalities, realms bergen.kommune.no, oslo.kommune.no, ...), each
// with SchoolsPerOrg schools (org numbers NO + nine digits with a valid MOD11 check digit; even
// schools are primary, grades 1–7; odd schools lower secondary, 8–10), each with
// ClassesPerSchool classes (8a, 8b, 9a, ...) of PupilsPerClass pupils. Every class has a basis
// group fc:gogroup:<realm>:b:<orgnr>:<class>:<from>:<to> and eight teaching groups
// fc:gogroup:<realm>:u:<orgnr>:<class>-<subject>:<from>:<to> (nor, mat, eng, nat, sam, krle, kro,
// kuh) for the school year around Start. Teachers form a team per grade: the contact teacher of
// each class (the one faculty member with contact_teacher in its basis group) plus one more, who
// is also faculty in the basis group; the team teaches the grade's first six subjects. Two
// specialists per school teach kro and kuh to every class; every odd school shares its kuh
// teacher with the previous school (a teacher in two schools), and org 1's first kro teacher is
// org 0's (a teacher employed in two municipalities: two accounts, one NIN hash). Each school
// has a principal and an office account, each org an IT support account. Pupils have one or
// two guardians (85 % two), or share an older sibling's (18 %); guardians are ID-porten
// identities idporten:hash:<hex> with affiliation affiliate. Everyone has a random 64-hex-digit
// NIN hash (unique per person) and a Norwegian name, some with æ, ø or å; eduPersonPrincipalName
// is given.family@realm, numbered when taken. About one pupil in 150 (at least one per org) has
// a protected identity, shared with their guardians.
//
// # Output
//
// First the full directory of every org, dated 22:00 local time the evening before day 1:
// person upserts, then memberships group by group, then guardian–child relations. Then each day
// in non-decreasing time: logins at the IdP (source idp) and accesses in the LMS (lms), the school
// administrative system (sas) and the messaging app (msg); directory changes come from sas.
// Event ids are <source>-<org number from 1>-<sequence of at least six digits>. Times carry
// Start's location and offset (+01:00 / +02:00 for Europe/Oslo) at millisecond precision.
//
// Weekdays are school days. Pupils log into the LMS in two to four lessons (at school: school
// network, Chromebook, single sign-on after the day's first password login, 4 % mistyped), use
// messaging and an OIDC app, and a third do homework in the evening from home. Teachers record
// absence first thing, work in their groups' LMS pages in about 60 % of seven periods, mark after
// school or in the evening, and contact teachers read their class's well-being and family notes
// through its basis group. Guardians read absence, grades and messages of their own children
// through ID-porten, mostly 16–22 h, some 07–08:45. Principals (role admin) and office staff
// (role staff) work in the school administrative system during office hours; support (role
// support) reads a few contact records from the municipal network. Weekends carry some homework,
// marking and guardians only. Every background access is one the directory allows.
//
// # Breach scenarios (Config.Breaches), day 1, local time
//
//   - 02:30 bulk_export: a school office account logs in from home and exports special_needs and
//     health of every pupil (records ≥ 800 each, actor_role admin; subject is the export's first
//     pupil, Breach.Subjects all of them).
//   - 06:40 credential_stuffing: 32–39 password failures for one pupil within about three minutes
//     from a Russian or Chinese address, then a success from it, then the pupil's work viewed and
//     deleted from that address.
//   - 07:02 pupil_as_teacher: a person upsert gives a pupil faculty and employee affiliations (the
//     HR feed error), a membership adds them as faculty to a younger class's maths group, and from
//     08:13 they read grades and assessments of 12–14 pupils of it with actor_role teacher.
//   - 07:31 blocked_guardian: a guardianship event blocks a guardian–child relation; from 08:20 the
//     guardian reads the child's absence, contact and messages.
//   - 08:40 teacher_outside_groups: a contact teacher reads assessment, grades and special_needs of
//     nine pupils of another grade's class, in whose groups they are not, without a group.
//
// All are over by 09:00. With the defaults they end by event ~7,400 of ~19,900 (the snapshot is
// ~4,900 of those), so a demo replaying at 125 events/s or faster shows all five in its first
// minute. Breaches returns their ground truth in this order.
//
// # Legitimate edge cases (always), day 1
//
// two_municipalities (the snapshot), substitute_teacher (07:45 added to a group by a membership
// event, teaches it from about 09:07, removed 15:30), password_typo (08:05, two failures then
// success from the school network), principal_overview (10:00, 45 pupils' absence and progress
// with role admin), daytime_export (11:05, one class's contact list, records = class size). A
// detector must stay silent on them; EdgeCases returns them. TestOracleFindsExactlyTheBreaches
// replays the stream with an independent rule set that flags exactly the breach accounts.
//
// # Volume
//
// With P pupils, T teachers, K classes, S schools and O orgs, a weekday has about
//
//	32.1·P + 2.15·1.55·P + 67.4·T + 2.5·K + 46·S + 3.5·O  events  (≈ 42 per pupil)
//
// and a weekend day about a tenth of that; the snapshot is about 13.4·P + T + 10·K. The
// defaults (P = 352, T = 30) give ~14,700 events per weekday plus a ~4,900-event snapshot.
// EstimateEvents computes this for any Config (within a few percent); use it to size runs, e.g.
// Orgs: 50, Days: 365 (from the default Monday) for about 100 M events.
//
// # Guarantees
//
// The same Config, Seed included, gives byte-identical output on every run and platform (the
// time zone database is embedded); different seeds give different worlds. Randomness comes from
// seeded PCG streams, one for the population, one for the scenarios and one per day, never from
// the clock or a global source. Run streams: it holds the population and one day's sessions
// (a few per account), never the events, so memory does not grow with Days. A Generator is
// immutable after New; Run may be called concurrently. Generation runs at millions of events per
// second on one core (go test -bench Generate ./simulate/).
//
// # Federation
//
// RunFederation (breachd simulate --persons N) writes instead only a directory snapshot of
// Feide's size (FeidePersons, 1.3 M persons by default): 356 municipalities with primary and
// lower secondary schools and 15 counties with upper secondary schools, sized from published
// figures (federation.go), each class with a basis group and eight teaching groups, and the
// pupils' guardians (ID-porten identities, in guardianships only). It holds one organisation
// at a time and is deterministic per Seed; it measures a detector's directory catalogue.
//
// # Not modelled
//
// Holidays and the school calendar (every Monday–Friday is a school day), sickness and
// absence of staff, directory churn beyond the scenarios (no pupils joining or leaving, no
// deactivations), upper secondary schools and universities, IPv6, real geo-IP, logins that fail
// for reasons other than a wrong password, and the other breach causes of design.md (a NIN on a
// protected identity, a fictitious NIN equal to someone else's, a teacher who is also a guardian
// at the same school, support access from abroad or out of hours). On the two daylight-saving
// Sundays local times before 03:00 are an hour off; only weekend sessions fall on those days.
package simulate
