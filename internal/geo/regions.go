package geo

import "strings"

// coarseRegions is the table of regions this package keeps. An IP database names
// the first-level ISO 3166-2 subdivision of an address, and what "first level"
// means depends on the country: a US state or a German Land, but a Slovenian
// municipality (SI-163, Jezersko, has under 1,000 inhabitants) or a French
// region as small as Corsica. A region is therefore kept only when it is listed
// here under its country:
//
//   - the country's first-level subdivisions are states, provinces or large
//     regions, and
//   - the region has at least about 500,000 inhabitants, so that a country and
//     region never describe fewer people than a mid-sized city.
//
// Every other region, of a listed country or not, is reduced to its country. The
// floor is approximate (recent censuses and estimates, rounded), and the table is
// conservative: a region we are unsure reaches the floor (Drenthe, at about
// 500,000) is left out, which only costs precision. keep lists the codes kept, without the country
// prefix; exclude lists, for review, the first-level codes of the country that
// are deliberately not kept and why, but has no effect: a code not in keep is
// dropped whether or not exclude names it. Where ISO 3166-2 recently changed a
// code and databases may still use the old one, both are kept; they name the same
// region.
//
// To add a country, list all of its first-level subdivisions in keep or exclude
// with their approximate populations in a comment. regions_test.go checks that the
// codes are well formed, that no code is in both lists, and, against Debian's
// iso-codes list of ISO 3166-2, that every first-level subdivision of a listed
// country is in one of them and every kept code is first-level.
var coarseRegions = map[string]struct{ keep, exclude string }{
	// United States: the 50 states and DC (Wyoming, the smallest, about 580,000).
	"US": {
		keep: "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS " +
			"MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY",
		// Outlying areas: countries of their own in ISO 3166-1 (AS, GU, MP, PR, UM, VI),
		// which is how IP databases and ZipState report them.
		exclude: "AS GU MP PR UM VI",
	},
	// Canada: the provinces (Newfoundland and Labrador, the smallest kept, about 540,000).
	"CA": {
		keep: "AB BC MB NB NL NS ON QC SK",
		// Prince Edward Island (about 175,000); the territories Northwest Territories,
		// Nunavut and Yukon (under 50,000 each).
		exclude: "PE NT NU YT",
	},
	// Australia: the states (Tasmania, the smallest kept, about 575,000).
	"AU": {
		keep: "NSW VIC QLD WA SA TAS",
		// Australian Capital Territory (about 470,000), Northern Territory (about 250,000).
		exclude: "ACT NT",
	},
	// Brazil: the 26 states and the Federal District (Roraima, the smallest, about 640,000).
	"BR": {
		keep:    "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO",
		exclude: "",
	},
	// Mexico: the 31 states and Mexico City (Colima, the smallest, about 730,000).
	"MX": {
		keep: "AGU BCN BCS CAM CHP CHH CMX COA COL DUR GUA GRO HID JAL MEX MIC " +
			"MOR NAY NLE OAX PUE QUE ROO SLP SIN SON TAB TAM TLA VER YUC ZAC",
		exclude: "",
	},
	// India: the 28 states (Sikkim, the smallest, about 690,000) and the union
	// territories Chandigarh (about 1.2 million), Dadra and Nagar Haveli and Daman and
	// Diu (about 590,000 in 2011, more since), Delhi, Jammu and Kashmir, and
	// Puducherry (about 1.3 million). ISO 3166-2 changed four codes in 2023: CT is now
	// CG (Chhattisgarh), OR is OD (Odisha), TG is TS (Telangana) and UT is UK
	// (Uttarakhand); both are kept.
	"IN": {
		keep: "AP AR AS BR CG GA GJ HR HP JH KA KL MP MH MN ML MZ NL OD PB RJ SK TN TS TR UP UK WB " +
			"CT OR TG UT " +
			"CH DH DL JK PY",
		// Andaman and Nicobar Islands (about 400,000), Ladakh (about 300,000),
		// Lakshadweep (about 65,000).
		exclude: "AN LA LD",
	},
	// China: the 22 provinces, 5 autonomous regions and 4 municipalities (Tibet, the
	// smallest, about 3.6 million).
	"CN": {
		keep: "AH BJ CQ FJ GD GS GX GZ HA HB HE HI HL HN JL JS JX LN NM NX QH SC SD SH SN SX TJ XJ XZ YN ZJ",
		// Hong Kong, Macao and Taiwan: countries of their own in ISO 3166-1.
		exclude: "HK MO TW",
	},
	// Japan: the 47 prefectures (Tottori, the smallest, about 540,000).
	"JP": {
		keep: "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 " +
			"25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47",
		exclude: "",
	},
	// Germany: the 16 Länder (Bremen, the smallest, about 680,000).
	"DE": {
		keep:    "BB BE BW BY HB HE HH MV NI NW RP SH SL SN ST TH",
		exclude: "",
	},
	// Austria: the Länder by number (Kärnten and Salzburg, the smallest kept, about
	// 570,000 each).
	"AT": {
		keep: "2 3 4 5 6 7 9",
		// Burgenland (1, about 300,000), Vorarlberg (8, about 400,000).
		exclude: "1 8",
	},
	// Spain: the autonomous communities (Cantabria, the smallest kept, about 590,000).
	"ES": {
		keep: "AN AR AS CB CL CM CN CT EX GA IB MC MD NC PV VC",
		// La Rioja (about 320,000); the autonomous cities Ceuta and Melilla (about
		// 85,000 each).
		exclude: "RI CE ML",
	},
	// Italy: the regions by number (Basilicata, the smallest kept, about 535,000).
	"IT": {
		keep: "21 25 32 34 36 42 45 52 55 57 62 65 72 75 77 78 82 88",
		// Valle d'Aosta (23, about 125,000), Molise (67, about 290,000).
		exclude: "23 67",
	},
	// France: the metropolitan regions (Centre-Val de Loire, the smallest kept, about
	// 2.6 million).
	"FR": {
		keep: "ARA BFC BRE CVL GES HDF IDF NAQ NOR OCC PAC PDL",
		// Corsica (about 350,000; formerly COR, now 20R). The overseas regions
		// and collectivities (GF, GP, MQ, RE, YT; BL, MF, NC, PF, PM, TF, WF; and CP,
		// an uninhabited island) are countries of their own in ISO 3166-1, which is
		// how IP databases report them.
		exclude: "20R COR GF GP MQ RE YT BL CP MF NC PF PM TF WF",
	},
	// United Kingdom: its four countries (Northern Ireland, the smallest, about 1.9
	// million).
	"GB": {
		keep:    "ENG NIR SCT WLS",
		exclude: "",
	},
	// Belgium: the three regions (Brussels-Capital, the smallest, about 1.2 million).
	// Its provinces are the second level.
	"BE": {
		keep:    "BRU VLG WAL",
		exclude: "",
	},
	// Netherlands: the provinces (Groningen, the smallest kept, about 590,000).
	"NL": {
		keep: "FR GE GR LI NB NH OV UT ZH",
		// Drenthe (about 500,000, at the floor), Flevoland (about 440,000), Zeeland
		// (about 390,000); Aruba, Curaçao and Sint Maarten, countries of their own in
		// ISO 3166-1; the special municipalities Bonaire, Saba and Sint Eustatius
		// (BQ in ISO 3166-1).
		exclude: "DR FL ZE AW CW SX BQ1 BQ2 BQ3",
	},
	// Poland: the 16 voivodeships (Opolskie, the smallest, about 950,000), by the
	// numbers ISO 3166-2 uses now and by the letters it used before.
	"PL": {
		keep: "02 04 06 08 10 12 14 16 18 20 22 24 26 28 30 32 " +
			"DS KP LU LB LD MA MZ OP PK PD PM SL SK WN WP ZP",
		exclude: "",
	},
	// Argentina: the provinces and the City of Buenos Aires (San Luis, the smallest
	// kept, about 540,000).
	"AR": {
		keep: "A B C D E G H J M N P Q R S T U W X Y",
		// La Rioja (F, about 380,000), Catamarca (K, about 430,000), La Pampa (L, about
		// 360,000), Tierra del Fuego (V, about 190,000), Santa Cruz (Z, about 340,000).
		exclude: "F K L V Z",
	},
	// South Africa: the nine provinces (Northern Cape, the smallest, about 1.3
	// million), and GT and NL, the codes Gauteng and KwaZulu-Natal had before GP and
	// KZN, which older databases may still use.
	"ZA": {
		keep:    "EC FS GP GT KZN LP MP NC NL NW WC",
		exclude: "",
	},
}

// keptRegions holds every kept region as CC-XXX.
var keptRegions = func() map[string]bool {
	m := map[string]bool{}
	for cc, t := range coarseRegions {
		for _, sub := range strings.Fields(t.keep) {
			m[cc+"-"+sub] = true
		}
	}
	return m
}()

// CoarseRegion returns region when it is a well-formed ISO 3166-2 code of
// country (CC-X to CC-XXX, uppercase letters and digits) that the table of coarse
// regions keeps, and "" otherwise: a region of another country, a malformed one,
// and one too small or of a country whose subdivisions are too fine are all
// reduced to the country alone.
func CoarseRegion(country, region string) string {
	if !wellFormedRegion(country, region) || !keptRegions[region] {
		return ""
	}
	return region
}

// wellFormedRegion reports whether region is country, a hyphen and one to three
// uppercase letters or digits.
func wellFormedRegion(country, region string) bool {
	if !validCountry(country) || len(region) < 4 || len(region) > 6 || region[:2] != country || region[2] != '-' {
		return false
	}
	for i := 3; i < len(region); i++ {
		if c := region[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validCountry reports whether s is two uppercase letters, the form of an ISO
// 3166-1 alpha-2 code.
func validCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}
