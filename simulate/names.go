package simulate

// Immutable tables: names, realms, subjects, services, networks and devices. Nothing here is
// ever written after package initialisation.

// givenNames are plausible Norwegian given names of every generation, some with æ, ø or å.
var givenNames = []string{
	"Emma", "Nora", "Olivia", "Sofie", "Ella", "Leah", "Sara", "Ingrid", "Maja", "Frida",
	"Astrid", "Selma", "Ida", "Thea", "Hedda", "Tiril", "Solveig", "Åse", "Sølvi", "Bjørg",
	"Kari", "Marte", "Signe", "Dagny", "Liv", "Ragnhild", "Tuva", "Vilde", "Aurora", "Mia",
	"Hanne", "Grethe", "Anne-Lise", "Siri", "Kjersti", "Randi", "Mona", "Hilde", "Guro", "Synnøve",
	"Jakob", "Emil", "Noah", "Oliver", "Filip", "William", "Lucas", "Liam", "Henrik", "Oskar",
	"Aksel", "Magnus", "Theodor", "Isak", "Sander", "Johannes", "Ola", "Bjørn", "Håkon", "Søren",
	"Ståle", "Ørjan", "Pål", "Jørgen", "Even", "Tore", "Knut", "Eirik", "Sindre", "Mathias",
	"Mohammed", "Ali", "Adrian", "Tobias", "Elias", "Sverre", "Geir", "Terje", "Øyvind", "Jon",
}

// familyNames are common Norwegian family names, some with æ, ø or å.
var familyNames = []string{
	"Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
	"Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
	"Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen", "Lund",
	"Sørensen", "Jakobsen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen",
	"Eide", "Knutsen", "Martinsen", "Paulsen", "Bakken", "Kristoffersen", "Mathisen", "Lie",
	"Amundsen", "Nguyen", "Rasmussen", "Lunde", "Solheim", "Berge", "Moe", "Nygård",
	"Bakke", "Fredriksen", "Holm", "Lien", "Hauge", "Christensen", "Nielsen", "Evensen",
	"Sæther", "Aas", "Myhre", "Ahmed", "Haugland", "Sivertsen", "Rønning", "Næss",
	"Vik", "Ellingsen", "Birkeland", "Strøm", "Myklebust", "Ødegård", "Helland", "Bøe",
	"Aune", "Tveit", "Brekke", "Østby", "Våge", "Løken", "Åsheim", "Khan",
}

// realmNames are municipalities; org i gets realmNames[i%len] (with a number appended from the
// second round on) + ".kommune.no".
var realmNames = []string{
	"bergen", "oslo", "trondheim", "stavanger", "baerum", "kristiansand", "drammen", "fredrikstad",
	"tromso", "sandnes", "asker", "lillestrom", "sarpsborg", "skien", "alesund", "bodo",
	"larvik", "tonsberg", "arendal", "ullensaker", "karmoy", "haugesund", "moss", "porsgrunn",
}

// Subjects of the teaching groups of every class: the first teamSubjects are taught by the
// grade's team, the rest by specialists who teach every class of their school.
var subjects = []string{"nor", "mat", "eng", "nat", "sam", "krle", "kro", "kuh"}

const (
	teamSubjects = 6
	subjectKro   = 6 // index of the first specialist subject
	subjectKuh   = 7 // index of the specialist subject shared between two schools
)

// service identifies a row of services.
type service uint8

const (
	svcLMS service = iota
	svcSAS
	svcMsg
	svcBooks
	svcCalendar
)

// source names the log an event comes from; it is the first part of the event id.
type source uint8

const (
	srcIdP source = iota
	srcLMS
	srcSAS
	srcMsg
	numSources
)

var sourceNames = [numSources]string{"idp", "lms", "sas", "msg"}

// services are what people log into: SAML entity ids and OIDC client ids (Feide uses UUIDs).
// log is the source of the service's access log; books and calendar keep none (their
// sessions are logins only).
var services = []struct {
	id, name string
	log      source
}{
	svcLMS:      {"https://lms.example.no/saml", "Læringsplattform", srcLMS},
	svcSAS:      {"https://sas.example.no/saml", "Skoleadministrativt system", srcSAS},
	svcMsg:      {"5b1f2c3e-8d4a-4f6b-9c2d-7e8f9a0b1c2d", "Skolemelding", srcMsg},
	svcBooks:    {"c3d4e5f6-0a1b-4c2d-8e3f-4a5b6c7d8e9f", "Digitale læremidler", srcIdP},
	svcCalendar: {"e7f80912-3a4b-4c5d-9e6f-708192a3b4c5", "Timeplan", srcIdP},
}

// homeNets are /16 prefixes of Norwegian consumer broadband and mobile networks.
var homeNets = [][2]byte{
	{84, 208}, {84, 209}, {84, 210}, {84, 211}, {84, 212}, {84, 213}, {84, 214}, {84, 215},
	{88, 88}, {88, 89}, {88, 90}, {88, 91}, {46, 9}, {46, 15}, {81, 166}, {81, 167},
	{85, 164}, {85, 165}, {89, 10}, {92, 220}, {92, 221}, {77, 16}, {77, 17}, {77, 18},
}

// attackers are foreign addresses used by the credential-stuffing scenario.
var attackers = []struct{ ip, country string }{
	{"91.243.93.17", "RU"}, {"45.142.120.9", "RU"}, {"121.37.154.6", "CN"}, {"222.186.42.117", "CN"},
}

// User agents by device.
const (
	uaChromebook = "Mozilla/5.0 (X11; CrOS x86_64 15917.71.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaWindows    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
	uaMac        = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
	uaIPhone     = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	uaAndroid    = "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	uaScript     = "python-requests/2.32.3"
)

// homeAgents are the devices people use at home.
var homeAgents = []string{uaWindows, uaMac, uaIPhone, uaAndroid, uaIPhone, uaAndroid}

// Affiliation sets of the directory (copied before they leave the package).
var (
	affPupil    = []string{"student", "member"}
	affTeacher  = []string{"faculty", "employee", "member"}
	affStaff    = []string{"staff", "employee", "member"}
	affGuardian = []string{"affiliate"}
	affPromoted = []string{"student", "member", "faculty", "employee"} // the HR-feed error
)
