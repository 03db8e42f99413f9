package directory

import "strings"

// Realm returns the realm of an eduPersonPrincipalName ("name@realm"): the part after the last
// @, or "" when there is none (a guardian's ID-porten id, a support id).
func Realm(account string) string {
	i := strings.LastIndexByte(account, '@')
	if i < 0 || i == len(account)-1 {
		return ""
	}
	return account[i+1:]
}

// HomeOrg returns the organisation account belongs to, from what the catalogue knows rather
// than from any event about the account's activity (whose org field the log source writes):
//
//  1. the org of the account's person event, when the catalogue has one;
//  2. else the org the catalogue's person events give for the account's realm (persons of
//     realm "ex.no" filed under "example.kommune.no" map "ex.no" there);
//  3. else the realm itself (in Feide the realm names the host organisation).
//
// ok is false when none applies: no person event and no realm. The caller then has only an
// event's claim to go by, and should say so.
func (d *Directory) HomeOrg(account string) (org string, ok bool) {
	realm := Realm(account)
	d.mu.RLock()
	defer d.mu.RUnlock()
	if id, ok := d.account(account); ok {
		if a := d.accounts.at(id); a.flags()&flagKnown != 0 && d.profiles.vals[a.profileID()].org != "" {
			return d.profiles.vals[a.profileID()].org, true
		}
	}
	if realm == "" {
		return "", false
	}
	if r := d.realms[realm]; r != nil && r.org != "" {
		return r.org, true
	}
	return realm, true
}
