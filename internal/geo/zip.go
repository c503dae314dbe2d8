package geo

import "sort"

// zip3 maps the first three digits of a US ZIP code to its state: each entry covers
// prefixes from lo up to the next entry's lo. Prefixes that belong to no state
// (unassigned, or military mail) map to "".
var zip3 = []struct {
	lo    int
	state string
}{
	{0, ""}, {5, "NY"}, {6, "PR"}, {8, "VI"}, {9, "PR"}, {10, "MA"}, {28, "RI"}, {30, "NH"}, {39, "ME"},
	{50, "VT"}, {55, "MA"}, {56, "VT"}, {60, "CT"}, {70, "NJ"}, {90, ""}, {100, "NY"}, {150, "PA"},
	{197, "DE"}, {200, "DC"}, {201, "VA"}, {202, "DC"}, {206, "MD"}, {220, "VA"}, {247, "WV"},
	{270, "NC"}, {290, "SC"}, {300, "GA"}, {320, "FL"}, {340, ""}, {341, "FL"}, {350, "AL"},
	{370, "TN"}, {386, "MS"}, {398, "GA"}, {400, "KY"}, {428, ""}, {430, "OH"}, {460, "IN"},
	{480, "MI"}, {500, "IA"}, {529, ""}, {530, "WI"}, {550, "MN"}, {568, ""}, {569, "DC"},
	{570, "SD"}, {578, ""}, {580, "ND"}, {589, ""}, {590, "MT"}, {600, "IL"}, {630, "MO"},
	{659, ""}, {660, "KS"}, {680, "NE"}, {694, ""}, {700, "LA"}, {715, ""}, {716, "AR"},
	{730, "OK"}, {733, "TX"}, {734, "OK"}, {750, "TX"}, {800, "CO"}, {817, ""}, {820, "WY"}, {832, "ID"}, {839, ""},
	{840, "UT"}, {848, ""}, {850, "AZ"}, {866, ""}, {870, "NM"}, {885, "TX"}, {886, ""},
	{889, "NV"}, {899, ""}, {900, "CA"}, {962, ""}, {967, "HI"}, {969, "GU"}, {970, "OR"},
	{980, "WA"}, {995, "AK"},
}

// ZipState returns the US state (two letters) of a five-digit ZIP code, or "" when
// the code is malformed or belongs to no state.
func ZipState(zip string) string {
	if len(zip) < 5 {
		return ""
	}
	p := 0
	for i := 0; i < 5; i++ {
		c := zip[i]
		if c < '0' || c > '9' {
			return ""
		}
		if i < 3 {
			p = p*10 + int(c-'0')
		}
	}
	if len(zip) > 5 && !(len(zip) == 10 && zip[5] == '-') { // ZIP+4 only
		return ""
	}
	i := sort.Search(len(zip3), func(i int) bool { return zip3[i].lo > p }) - 1
	return zip3[i].state
}
