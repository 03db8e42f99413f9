package notify

import (
	"strings"

	"breachd/event"
	"breachd/history"
	"breachd/respond"
)

// bokmal is the notice in Norwegian bokmål, in the words of Datatilsynet's form ("Melding om
// brudd på personopplysningssikkerheten").
var bokmal = &reportWords{
	title:     "# Melding om brudd på personopplysningssikkerheten (personvernforordningen art. 33): %s\n\n",
	draft:     "> **UTKAST — ikke klart til innsending.** %d punkt(er) mangler, se sjekklisten til slutt.\n\n",
	generated: "Laget %s fra hendelse %s (versjon %d, status %s)",
	caseRef:   "; Datatilsynets saksnummer %s",
	headings: []string{
		"1. Behandlingsansvarlig og kontaktperson",
		"2. Hva har skjedd",
		"3. Når bruddet skjedde",
		"4. Når bruddet ble oppdaget, og fristen på 72 timer",
		"5. Kategorier av personopplysninger",
		"6. Kategorier av registrerte",
		"7. Omtrentlig antall registrerte og registreringer",
		"8. Berørte tjenester",
		"9. Sannsynlige konsekvenser",
		"10. Tiltak som er gjennomført eller foreslått",
		"11. Underretning til de registrerte (art. 34)",
		"12. Trinnvis melding",
		"13. Bevis",
	},
	controller:     "- Behandlingsansvarlig: %s\n",
	dpo:            "- Personvernombud: %s\n",
	missing:        "MANGLER",
	noSummary:      "(ingen beskrivelse)",
	account:        "- Berørt brukerkonto: %s\n",
	nature:         "- Bruddets art: %s\n",
	rules:          "- Deteksjonsregler som slo til (%d varsler):",
	noRules:        " ingen registrert\n",
	firstSeen:      "- Først sett: %s\n",
	lastSeen:       "- Sist sett: %s\n",
	window:         "- Tidsrom for bevis: %s – %s\n",
	discovery:      "- Oppdaget: %s\n- Kjent for behandlingsansvarlig (art. 33 nr. 1): %s\n- Frist (kjent + 72 timer): %s\n",
	met:            "- Meldt: %s, innen fristen\n",
	late:           "- Meldt: %s, **%s for sent**\n",
	overdue:        "- Ikke meldt: **FRISTEN ER OVERSKREDET med %s**\n",
	notReportable:  "- Ikke meldepliktig: %s\n",
	pending:        "- Ikke meldt ennå: %s igjen\n",
	delay:          "- Grunner til forsinkelsen: %s\n",
	dataNone:       "%s (ingen bevis for tilgang, eller ingen tilgang i tidsrommet).\n",
	dataHeader:     "| Kategori | Personer | Registreringer | Hendelser | Sensitivitet |\n|---|---:|---:|---:|---|\n",
	special:        "\nSærlige kategorier av personopplysninger (personvernforordningen art. 9) eller andre sensitive opplysninger er berørt.\n",
	peopleNone:     "Ikke fastslått: ingen opplysninger fra katalogen er slått opp for personene i bevisene.\n",
	peopleEmpty:    "Ingen funnet.\n",
	noAff:          "ingen",
	numbers:        "- Personer: omtrent %d\n- Registreringer: omtrent %d (%d tilgangshendelser)\n",
	source:         "- Kilde: %s\n",
	servicesNone:   "%s (ingen bevis for innlogginger, eller ingen innlogginger i tidsrommet).\n",
	service:        "- %s%s: %s – %s, %d vellykkede og %d mislykkede innlogginger\n",
	deactivation:   "- Deaktivering av brukerkontoen: %s\n",
	measures:       "- Øvrige tiltak: MANGLER\n",
	steps:          "\nTrinn i avviksrutinen:\n\n",
	stepDone:       "- [x] %d. %s — %s av %s%s\n",
	decision:       "- Beslutning: %s\n",
	reason:         "- Begrunnelse: %s\n",
	evidenceNone:   "Ingen bevisuttrekk.\n",
	evidenceHeader: "| Uttrekk | Type | Tatt | Tidsrom | Rader | SHA-256 | Kontrollert |\n|---|---|---|---|---:|---|---|\n",
	yes:            "ja",
	no:             "NEI",
	missingHeading: "Mangler før innsending",
	duration:       nbDuration,
	values: map[string]string{
		// lifecycle states
		event.StateDetected:      "oppdaget",
		event.StateContained:     "begrenset",
		event.StateInvestigating: "under undersøkelse",
		event.StateReported:      "meldt",
		event.StateNotReportable: "ikke meldepliktig",
		event.StateRemediated:    "utbedret",
		event.StateClosed:        "lukket",

		// the nature of the breach, the texts of every report
		natureConfidentiality: "brudd på konfidensialiteten: personopplysninger gjort tilgjengelig for en person som ikke har rett til dem",
		natureAccess:          "uautorisert tilgang fra en brukerkonto med feil rettigheter",
		phasedText: "Art. 33 nr. 4: Er ikke alle opplysningene tilgjengelige innen 72 timer, meldes det som er kjent nå, " +
			"og resten ettersendes trinnvis uten ugrunnet opphold, med henvisning til saksnummeret.",
		DraftConsequences: "UTKAST: beskriv de sannsynlige konsekvensene for de registrerte (for eksempel at elevers karakterer " +
			"eller helseopplysninger er sett av en uvedkommende).",
		DraftDelay:    "UTKAST: meldingen er for sen; oppgi grunnene til forsinkelsen (personvernforordningen art. 33 nr. 1).",
		NotDetermined: "ikke fastslått",
		NotDecided:    "ikke avgjort",
		sourceNone:    "ikke fastslått: ingen bevis for tilgang er hentet",
		sourceAccess:  "tilgangsbevis ",

		// the deactivation of the account
		deactivationNone:                     "ikke bedt om",
		DeactivationText(DeactivationDryRun): "prøvekjøring: kontoen ville blitt deaktivert; ingenting ble endret",
		respond.StateRequested:               "bedt om",
		respond.StateRefused:                 "avvist (kontoen står på unntakslisten)",
		respond.StateAwaitingApproval:        "venter på godkjenning",
		respond.StateInProgress:              "pågår",
		respond.StateRetrying:                "prøves på nytt",
		respond.StateDone:                    "utført",
		respond.StateFailed:                  "mislyktes",
		respond.StateReactivating:            "reaktiveres",
		respond.StateReactivated:             "reaktivert",
		respond.StateCancelled:               "trukket tilbake",

		// the Art. 34 decision
		event.Art34Notify:      "de registrerte underrettes",
		event.Art34NotRequired: "underretning er ikke nødvendig",

		// the steps of the procedure
		StepNames[1]: "deaktiver brukerkontoen",
		StepNames[2]: "varsle personvernombudet",
		StepNames[3]: "hent innloggingsloggen til kontoen",
		StepNames[4]: "hent loggene til tjenestene: hvem sine opplysninger kontoen så, endret eller slettet",
		StepNames[5]: "meld til Datatilsynet (eller dokumenter hvorfor ikke)",
		StepNames[6]: "rett opp katalogdataene og fjern lokale rettigheter",
		StepNames[7]: "reaktiver brukerkontoen",
		StepNames[8]: "tiltak mot gjentakelse",

		// the checklist of a draft
		missingDPO:          "personvernombudets kontaktopplysninger (art. 33 nr. 3 bokstav b): --dpo",
		missingConsequences: "sannsynlige konsekvenser (art. 33 nr. 3 bokstav c): --consequences",
		missingMeasures:     "tiltak som er gjennomført eller foreslått (art. 33 nr. 3 bokstav d): --measures",
		missingArt34:        "beslutning om underretning til de registrerte (art. 34): --art34 notify|not_required --art34-reason",
		missingNumbers:      "omtrentlig antall registrerte og registreringer: hent bevis (breachd incidents evidence --refresh)",
		missingPeople:       "kategorier av registrerte",
		missingDelay:        "grunner til forsinkelsen (art. 33 nr. 1)",

		// the sensitivity of data, the categories of people (affiliationCategory)
		"special (GDPR Art. 9)":             "særlig kategori (art. 9)",
		"sensitive":                         "sensitiv",
		"pupils":                            "elever",
		"teachers":                          "lærere",
		"staff":                             "ansatte",
		"guardians and other members":       "foresatte og andre medlemmer",
		"guardians and other affiliates":    "foresatte og andre tilknyttede",
		"people without a directory record": "personer uten oppføring i katalogen",

		// evidence kinds
		history.EvidenceLogins: "innlogginger",
		history.EvidenceAccess: "tilgang",

		// the resource categories of events.md (event.Resources), with the name the evidence uses
		"grades":        "karakterer (grades)",
		"assessment":    "vurderinger (assessment)",
		"absence":       "fravær (absence)",
		"progress":      "progresjon (progress)",
		"special_needs": "spesialundervisning og særskilte behov (special_needs)",
		"health":        "helse (health)",
		"wellbeing":     "trivsel (wellbeing)",
		"family":        "familieforhold (family)",
		"contact":       "kontaktopplysninger (contact)",
		"messages":      "meldinger (messages)",
		"media":         "bilder og medier (media)",
		"work":          "elevarbeider (work)",
	},
}

// nbDuration renders a Duration ("2d 3h 4m") in bokmål ("2 d 3 t 4 min").
func nbDuration(s string) string {
	parts := strings.Fields(s)
	for i, f := range parts {
		switch {
		case strings.HasSuffix(f, "d"):
			parts[i] = strings.TrimSuffix(f, "d") + " d"
		case strings.HasSuffix(f, "h"):
			parts[i] = strings.TrimSuffix(f, "h") + " t"
		case strings.HasSuffix(f, "m"):
			parts[i] = strings.TrimSuffix(f, "m") + " min"
		}
	}
	return strings.Join(parts, " ")
}
