//! The harsh world's geography: regions with their abbreviations, cities with their telephone area codes and
//! postal code ranges, so that addresses, phone numbers and postal codes agree with each other and with what
//! real validators (libphonenumber) accept.
//!
//! The default world keeps its own small city table in [`crate::countries`]; its bytes are pinned.

/// How a country's postal codes are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Plain digits of this width, zero-padded: "80331", "0150", "560001".
    Digits(usize),
    /// US ZIP code, five digits, with a ZIP+4 add-on known to the company: "02139", "02139-4307".
    Zip,
    /// UK postcode: outward code, a space, digit and two letters: "SW1A 1AA".
    Uk,
    /// Canadian postal code: FSA, a space, digit letter digit: "M5V 2T6".
    Canada,
    /// Dutch postcode: four digits, a space, two letters: "1012 AB".
    Netherlands,
    /// Irish Eircode: routing key, a space, four characters: "D02 X285".
    Eircode,
    /// Five digits, a dash, three: "01310-100".
    Brazil,
    /// Three digits, a dash, four: "100-0001".
    Japan,
    /// Three digits, a space, two: "111 20".
    Sweden,
    /// Two digits, a dash, three: "00-950".
    Poland,
}

/// Where a city's postal codes come from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PostalArea {
    /// Numbers `lo..=hi` in steps of `step`, written the country's way.
    Range { lo: u32, hi: u32, step: u32 },
    /// Outward codes, FSAs or routing keys, completed by the country's scheme.
    Prefixes(&'static [&'static str]),
}

/// One city.
#[derive(Debug)]
pub(crate) struct City {
    pub(crate) name: &'static str,
    /// Index into the country's regions.
    pub(crate) region: usize,
    /// Length of a national significant number (the number without trunk prefix or country code).
    pub(crate) digits: usize,
    /// Area codes, each as `area|first digits of the subscriber number` (the part after `|` may be empty, then
    /// the subscriber number starts with 2-9).
    pub(crate) areas: &'static [&'static str],
    pub(crate) postal: PostalArea,
}

/// One country's geography, in the order of [`crate::countries::COUNTRIES`].
#[derive(Debug)]
pub(crate) struct Geography {
    /// ISO 3166-1 alpha-2 code, the same as the country's in `COUNTRIES` at this index.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the test that keeps both tables aligned"))]
    pub(crate) code: &'static str,
    /// (name, abbreviation); the abbreviation is empty where the country has no standard one, and the name is
    /// empty where CRM records of the country leave the field blank.
    pub(crate) regions: &'static [(&'static str, &'static str)],
    /// Whether records usually write the abbreviation ("CA") rather than the name ("Bayern").
    pub(crate) abbreviated: bool,
    pub(crate) postal: Scheme,
    pub(crate) cities: &'static [City],
}

const fn c(
    name: &'static str,
    region: usize,
    digits: usize,
    areas: &'static [&'static str],
    postal: PostalArea,
) -> City {
    City { name, region, digits, areas, postal }
}

/// Postal codes `lo..=hi`.
const fn r(lo: u32, hi: u32) -> PostalArea {
    PostalArea::Range { lo, hi, step: 1 }
}

/// Postal codes `lo..=hi` in steps of `step` (French cities number theirs by hundreds).
const fn rs(lo: u32, hi: u32, step: u32) -> PostalArea {
    PostalArea::Range { lo, hi, step }
}

const fn p(prefixes: &'static [&'static str]) -> PostalArea {
    PostalArea::Prefixes(prefixes)
}

/// Each country's geography, indexed like `COUNTRIES`.
#[rustfmt::skip]
pub(crate) static GEOGRAPHY: [Geography; 25] = [
    Geography { code: "US", abbreviated: true, postal: Scheme::Zip,
        regions: &[("California", "CA"), ("New York", "NY"), ("Texas", "TX"), ("Illinois", "IL"),
            ("Washington", "WA"), ("Massachusetts", "MA"), ("Colorado", "CO"), ("Georgia", "GA"), ("Florida", "FL"),
            ("New Jersey", "NJ"), ("Pennsylvania", "PA"), ("Ohio", "OH"), ("Connecticut", "CT"), ("Oregon", "OR"),
            ("Minnesota", "MN"), ("Arizona", "AZ"), ("North Carolina", "NC"), ("Tennessee", "TN"), ("Utah", "UT"),
            ("Michigan", "MI")],
        cities: &[
            c("San Francisco", 0, 10, &["415|", "628|"], r(94102, 94188)),
            c("San Jose", 0, 10, &["408|", "669|"], r(95110, 95139)),
            c("Los Angeles", 0, 10, &["213|", "310|", "323|"], r(90001, 90089)),
            c("San Diego", 0, 10, &["619|", "858|"], r(92101, 92199)),
            c("Oakland", 0, 10, &["510|"], r(94601, 94621)),
            c("New York", 1, 10, &["212|", "646|", "332|"], r(10001, 10282)),
            c("Buffalo", 1, 10, &["716|"], r(14201, 14228)),
            c("Rochester", 1, 10, &["585|"], r(14604, 14627)),
            c("Austin", 2, 10, &["512|", "737|"], r(78701, 78759)),
            c("Dallas", 2, 10, &["214|", "469|", "972|"], r(75201, 75254)),
            c("Houston", 2, 10, &["713|", "281|", "832|"], r(77002, 77099)),
            c("Chicago", 3, 10, &["312|", "773|", "872|"], r(60601, 60661)),
            c("Naperville", 3, 10, &["630|", "331|"], r(60540, 60565)),
            c("Seattle", 4, 10, &["206|"], r(98101, 98199)),
            c("Bellevue", 4, 10, &["425|"], r(98004, 98008)),
            c("Spokane", 4, 10, &["509|"], r(99201, 99224)),
            c("Boston", 5, 10, &["617|", "857|"], r(2108, 2137)),
            c("Cambridge", 5, 10, &["617|", "857|"], r(2138, 2142)),
            c("Worcester", 5, 10, &["508|", "774|"], r(1601, 1610)),
            c("Denver", 6, 10, &["303|", "720|"], r(80202, 80239)),
            c("Boulder", 6, 10, &["303|", "720|"], r(80301, 80310)),
            c("Atlanta", 7, 10, &["404|", "470|", "678|"], r(30303, 30363)),
            c("Savannah", 7, 10, &["912|"], r(31401, 31419)),
            c("Miami", 8, 10, &["305|", "786|"], r(33125, 33199)),
            c("Tampa", 8, 10, &["813|"], r(33602, 33629)),
            c("Orlando", 8, 10, &["407|", "321|"], r(32801, 32839)),
            c("Newark", 9, 10, &["973|", "862|"], r(7102, 7114)),
            c("Jersey City", 9, 10, &["201|", "551|"], r(7302, 7311)),
            c("Princeton", 9, 10, &["609|", "640|"], r(8540, 8544)),
            c("Pittsburgh", 10, 10, &["412|"], r(15201, 15244)),
            c("Philadelphia", 10, 10, &["215|", "267|"], r(19102, 19154)),
            c("Columbus", 11, 10, &["614|", "380|"], r(43201, 43235)),
            c("Cleveland", 11, 10, &["216|"], r(44101, 44135)),
            c("Hartford", 12, 10, &["860|", "959|"], r(6101, 6120)),
            c("Stamford", 12, 10, &["203|", "475|"], r(6901, 6907)),
            c("Portland", 13, 10, &["503|", "971|"], r(97201, 97239)),
            c("Eugene", 13, 10, &["541|", "458|"], r(97401, 97408)),
            c("Minneapolis", 14, 10, &["612|"], r(55401, 55488)),
            c("Saint Paul", 14, 10, &["651|"], r(55101, 55130)),
            c("Phoenix", 15, 10, &["602|", "480|", "623|"], r(85003, 85054)),
            c("Tucson", 15, 10, &["520|"], r(85701, 85750)),
            c("Raleigh", 16, 10, &["919|", "984|"], r(27601, 27617)),
            c("Charlotte", 16, 10, &["704|", "980|"], r(28202, 28277)),
            c("Nashville", 17, 10, &["615|", "629|"], r(37201, 37250)),
            c("Memphis", 17, 10, &["901|"], r(38103, 38141)),
            c("Salt Lake City", 18, 10, &["801|", "385|"], r(84101, 84124)),
            c("Provo", 18, 10, &["801|", "385|"], r(84601, 84606)),
            c("Detroit", 19, 10, &["313|"], r(48201, 48243)),
            c("Ann Arbor", 19, 10, &["734|"], r(48103, 48109)),
        ] },
    Geography { code: "GB", abbreviated: false, postal: Scheme::Uk,
        regions: &[("Greater London", ""), ("Greater Manchester", ""), ("West Midlands", ""),
            ("West Yorkshire", ""), ("Scotland", ""), ("Wales", ""), ("Cambridgeshire", ""), ("Merseyside", ""),
            ("Tyne and Wear", "")],
        cities: &[
            c("London", 0, 10, &["20|3", "20|7", "20|8"],
                p(&["EC1A", "EC1V", "EC2A", "EC2M", "EC3A", "EC4M", "WC1B", "WC2H", "W1D", "W1T", "SE1", "N1", "E1",
                    "E14", "SW1A", "SW1P", "NW1"])),
            c("Croydon", 0, 10, &["20|8"], p(&["CR0", "CR2", "CR9"])),
            c("Manchester", 1, 10, &["161|2", "161|8"], p(&["M1", "M2", "M3", "M4", "M15"])),
            c("Salford", 1, 10, &["161|7", "161|8"], p(&["M3", "M5", "M50"])),
            c("Stockport", 1, 10, &["161|4"], p(&["SK1", "SK2", "SK4"])),
            c("Birmingham", 2, 10, &["121|2", "121|4", "121|6"], p(&["B1", "B2", "B3", "B4", "B5", "B15"])),
            c("Coventry", 2, 10, &["24|7"], p(&["CV1", "CV3", "CV4"])),
            c("Leeds", 3, 10, &["113|2", "113|3", "113|4"], p(&["LS1", "LS2", "LS9", "LS11"])),
            c("Bradford", 3, 10, &["1274|"], p(&["BD1", "BD3"])),
            c("Edinburgh", 4, 10, &["131|2", "131|4", "131|5"], p(&["EH1", "EH2", "EH3", "EH6", "EH12"])),
            c("Glasgow", 4, 10, &["141|2", "141|3", "141|4"], p(&["G1", "G2", "G3", "G41"])),
            c("Aberdeen", 4, 10, &["1224|"], p(&["AB10", "AB11", "AB24"])),
            c("Cardiff", 5, 10, &["29|20"], p(&["CF10", "CF11", "CF24"])),
            c("Swansea", 5, 10, &["1792|"], p(&["SA1", "SA2"])),
            c("Cambridge", 6, 10, &["1223|"], p(&["CB1", "CB2", "CB4"])),
            c("Peterborough", 6, 10, &["1733|"], p(&["PE1", "PE2"])),
            c("Liverpool", 7, 10, &["151|2", "151|7"], p(&["L1", "L2", "L3"])),
            c("Birkenhead", 7, 10, &["151|6"], p(&["CH41", "CH42"])),
            c("Newcastle upon Tyne", 8, 10, &["191|2"], p(&["NE1", "NE4"])),
            c("Sunderland", 8, 10, &["191|5"], p(&["SR1", "SR2"])),
        ] },
    Geography { code: "DE", abbreviated: false, postal: Scheme::Digits(5),
        regions: &[("Berlin", "BE"), ("Hamburg", "HH"), ("Hessen", "HE"), ("Bayern", "BY"),
            ("Nordrhein-Westfalen", "NW"), ("Baden-Württemberg", "BW"), ("Sachsen", "SN"), ("Niedersachsen", "NI")],
        cities: &[
            c("Berlin", 0, 10, &["30|"], r(10115, 14199)),
            c("Hamburg", 1, 10, &["40|"], r(20095, 22769)),
            c("Frankfurt am Main", 2, 10, &["69|"], r(60306, 60599)),
            c("Wiesbaden", 2, 10, &["611|"], r(65183, 65207)),
            c("Darmstadt", 2, 10, &["6151|"], r(64283, 64297)),
            c("München", 3, 10, &["89|"], r(80331, 81929)),
            c("Nürnberg", 3, 10, &["911|"], r(90402, 90491)),
            c("Augsburg", 3, 10, &["821|"], r(86150, 86199)),
            c("Köln", 4, 10, &["221|"], r(50667, 51149)),
            c("Düsseldorf", 4, 10, &["211|"], r(40210, 40629)),
            c("Dortmund", 4, 10, &["231|"], r(44135, 44388)),
            c("Essen", 4, 10, &["201|"], r(45127, 45359)),
            c("Stuttgart", 5, 10, &["711|"], r(70173, 70629)),
            c("Karlsruhe", 5, 10, &["721|"], r(76131, 76229)),
            c("Mannheim", 5, 10, &["621|"], r(68159, 68309)),
            c("Leipzig", 6, 10, &["341|"], r(4103, 4357)),
            c("Dresden", 6, 10, &["351|"], r(1067, 1328)),
            c("Hannover", 7, 10, &["511|"], r(30159, 30669)),
            c("Braunschweig", 7, 10, &["531|"], r(38100, 38126)),
        ] },
    Geography { code: "FR", abbreviated: false, postal: Scheme::Digits(5),
        regions: &[("Île-de-France", "IDF"), ("Auvergne-Rhône-Alpes", "ARA"), ("Provence-Alpes-Côte d'Azur", "PACA"),
            ("Occitanie", ""), ("Hauts-de-France", ""), ("Pays de la Loire", ""), ("Nouvelle-Aquitaine", ""),
            ("Grand Est", "")],
        cities: &[
            c("Paris", 0, 9, &["1|4", "1|5"], r(75001, 75020)),
            c("Boulogne-Billancourt", 0, 9, &["1|4"], r(92100, 92100)),
            c("Versailles", 0, 9, &["1|3"], r(78000, 78000)),
            c("Lyon", 1, 9, &["4|72", "4|78"], r(69001, 69009)),
            c("Grenoble", 1, 9, &["4|76"], rs(38000, 38100, 100)),
            c("Marseille", 2, 9, &["4|91"], r(13001, 13016)),
            c("Nice", 2, 9, &["4|93"], rs(6000, 6300, 100)),
            c("Toulouse", 3, 9, &["5|61", "5|62"], rs(31000, 31500, 100)),
            c("Montpellier", 3, 9, &["4|67"], rs(34000, 34090, 10)),
            c("Lille", 4, 9, &["3|20"], rs(59000, 59800, 100)),
            c("Amiens", 4, 9, &["3|22"], rs(80000, 80090, 10)),
            c("Nantes", 5, 9, &["2|40"], rs(44000, 44300, 100)),
            c("Angers", 5, 9, &["2|41"], rs(49000, 49100, 100)),
            c("Bordeaux", 6, 9, &["5|56", "5|57"], rs(33000, 33800, 100)),
            c("Limoges", 6, 9, &["5|55"], rs(87000, 87100, 100)),
            c("Strasbourg", 7, 9, &["3|88"], rs(67000, 67200, 100)),
            c("Metz", 7, 9, &["3|87"], rs(57000, 57070, 10)),
        ] },
    Geography { code: "CA", abbreviated: true, postal: Scheme::Canada,
        regions: &[("Ontario", "ON"), ("British Columbia", "BC"), ("Québec", "QC"), ("Alberta", "AB")],
        cities: &[
            c("Toronto", 0, 10, &["416|", "647|", "437|"], p(&["M5V", "M5H", "M5J", "M4W", "M5A", "M5C", "M5G"])),
            c("Ottawa", 0, 10, &["613|", "343|"], p(&["K1P", "K1R", "K1N", "K2P"])),
            c("Waterloo", 0, 10, &["519|", "226|"], p(&["N2L", "N2J", "N2K"])),
            c("Mississauga", 0, 10, &["905|", "289|"], p(&["L5B", "L4W", "L5R"])),
            c("Vancouver", 1, 10, &["604|", "778|"], p(&["V6B", "V6C", "V6E", "V5K"])),
            c("Victoria", 1, 10, &["250|", "778|"], p(&["V8W", "V8V", "V8T"])),
            c("Montréal", 2, 10, &["514|", "438|"], p(&["H3B", "H2Y", "H3A", "H2X"])),
            c("Québec", 2, 10, &["418|", "581|"], p(&["G1R", "G1K", "G1V"])),
            c("Calgary", 3, 10, &["403|", "587|"], p(&["T2P", "T2R", "T3H"])),
            c("Edmonton", 3, 10, &["780|", "587|"], p(&["T5J", "T5K", "T6E"])),
        ] },
    Geography { code: "AU", abbreviated: true, postal: Scheme::Digits(4),
        regions: &[("New South Wales", "NSW"), ("Victoria", "VIC"), ("Queensland", "QLD"),
            ("Western Australia", "WA"), ("South Australia", "SA"), ("Australian Capital Territory", "ACT"),
            ("Northern Territory", "NT")],
        cities: &[
            c("Sydney", 0, 9, &["2|8", "2|9"], r(2000, 2234)),
            c("Parramatta", 0, 9, &["2|8", "2|9"], r(2150, 2151)),
            c("Newcastle", 0, 9, &["2|49"], r(2300, 2308)),
            c("Melbourne", 1, 9, &["3|8", "3|9"], r(3000, 3207)),
            c("Geelong", 1, 9, &["3|52"], r(3220, 3228)),
            c("Brisbane", 2, 9, &["7|3"], r(4000, 4179)),
            c("Gold Coast", 2, 9, &["7|55"], r(4217, 4230)),
            c("Perth", 3, 9, &["8|92", "8|93", "8|94"], r(6000, 6199)),
            c("Fremantle", 3, 9, &["8|93"], r(6160, 6163)),
            c("Adelaide", 4, 9, &["8|8"], r(5000, 5199)),
            c("Canberra", 5, 9, &["2|6"], r(2600, 2617)),
            c("Darwin", 6, 9, &["8|89"], r(800, 832)),
        ] },
    Geography { code: "NL", abbreviated: false, postal: Scheme::Netherlands,
        regions: &[("Noord-Holland", "NH"), ("Zuid-Holland", "ZH"), ("Utrecht", "UT"), ("Noord-Brabant", "NB"),
            ("Gelderland", "GE")],
        cities: &[
            c("Amsterdam", 0, 9, &["20|"], r(1011, 1109)),
            c("Haarlem", 0, 9, &["23|"], r(2011, 2037)),
            c("Rotterdam", 1, 9, &["10|"], r(3011, 3089)),
            c("Den Haag", 1, 9, &["70|"], r(2491, 2599)),
            c("Leiden", 1, 9, &["71|"], r(2311, 2334)),
            c("Utrecht", 2, 9, &["30|"], r(3511, 3585)),
            c("Amersfoort", 2, 9, &["33|"], r(3811, 3826)),
            c("Eindhoven", 3, 9, &["40|"], r(5611, 5658)),
            c("Tilburg", 3, 9, &["13|"], r(5011, 5049)),
            c("Arnhem", 4, 9, &["26|"], r(6811, 6846)),
            c("Nijmegen", 4, 9, &["24|"], r(6511, 6546)),
        ] },
    Geography { code: "JP", abbreviated: false, postal: Scheme::Japan,
        regions: &[("Tokyo", ""), ("Osaka", ""), ("Kanagawa", ""), ("Aichi", ""), ("Fukuoka", ""), ("Kyoto", ""),
            ("Hokkaido", "")],
        cities: &[
            c("Tokyo", 0, 9, &["3|"], r(1_000_001, 1_789_999)),
            c("Hachioji", 0, 9, &["42|6"], r(1_920_001, 1_920_999)),
            c("Osaka", 1, 9, &["6|"], r(5_300_001, 5_599_999)),
            c("Sakai", 1, 9, &["72|2"], r(5_900_001, 5_999_999)),
            c("Yokohama", 2, 9, &["45|"], r(2_200_001, 2_479_999)),
            c("Kawasaki", 2, 9, &["44|"], r(2_100_001, 2_169_999)),
            c("Nagoya", 3, 9, &["52|"], r(4_500_001, 4_689_999)),
            c("Toyota", 3, 9, &["565|"], r(4_710_001, 4_719_999)),
            c("Fukuoka", 4, 9, &["92|"], r(8_100_001, 8_199_999)),
            c("Kitakyushu", 4, 9, &["93|"], r(8_000_001, 8_089_999)),
            c("Kyoto", 5, 9, &["75|"], r(6_000_001, 6_169_999)),
            c("Sapporo", 6, 9, &["11|2", "11|3", "11|5", "11|7", "11|8"], r(600_001, 659_999)),
        ] },
    Geography { code: "IN", abbreviated: false, postal: Scheme::Digits(6),
        regions: &[("Karnataka", "KA"), ("Maharashtra", "MH"), ("Delhi", "DL"), ("Telangana", "TG"),
            ("Tamil Nadu", "TN"), ("West Bengal", "WB"), ("Haryana", "HR"), ("Uttar Pradesh", "UP")],
        cities: &[
            c("Bengaluru", 0, 10, &["80|2", "80|4"], r(560_001, 560_100)),
            c("Mysuru", 0, 10, &["821|2", "821|4"], r(570_001, 570_030)),
            c("Mumbai", 1, 10, &["22|2", "22|6"], r(400_001, 400_104)),
            c("Pune", 1, 10, &["20|2", "20|6"], r(411_001, 411_062)),
            c("New Delhi", 2, 10, &["11|2", "11|4"], r(110_001, 110_096)),
            c("Hyderabad", 3, 10, &["40|2", "40|4"], r(500_001, 500_100)),
            c("Chennai", 4, 10, &["44|2", "44|4"], r(600_001, 600_119)),
            c("Coimbatore", 4, 10, &["422|2", "422|4"], r(641_001, 641_050)),
            c("Kolkata", 5, 10, &["33|2", "33|4"], r(700_001, 700_156)),
            c("Gurugram", 6, 10, &["124|4"], r(122_001, 122_018)),
            c("Noida", 7, 10, &["120|4"], r(201_301, 201_310)),
        ] },
    Geography { code: "BR", abbreviated: true, postal: Scheme::Brazil,
        regions: &[("São Paulo", "SP"), ("Rio de Janeiro", "RJ"), ("Minas Gerais", "MG"), ("Paraná", "PR"),
            ("Rio Grande do Sul", "RS"), ("Distrito Federal", "DF")],
        cities: &[
            c("São Paulo", 0, 10, &["11|3"], r(1_000_000, 5_999_999)),
            c("Campinas", 0, 10, &["19|3"], r(13_010_000, 13_099_999)),
            c("Rio de Janeiro", 1, 10, &["21|2", "21|3"], r(20_000_000, 23_799_999)),
            c("Niterói", 1, 10, &["21|2"], r(24_000_000, 24_399_999)),
            c("Belo Horizonte", 2, 10, &["31|3"], r(30_000_000, 31_999_999)),
            c("Uberlândia", 2, 10, &["34|3"], r(38_400_000, 38_415_999)),
            c("Curitiba", 3, 10, &["41|3"], r(80_000_000, 82_999_999)),
            c("Londrina", 3, 10, &["43|3"], r(86_000_000, 86_099_999)),
            c("Porto Alegre", 4, 10, &["51|3"], r(90_000_000, 91_999_999)),
            c("Caxias do Sul", 4, 10, &["54|3"], r(95_000_000, 95_099_999)),
            c("Brasília", 5, 10, &["61|3"], r(70_000_000, 72_799_999)),
        ] },
    Geography { code: "ES", abbreviated: false, postal: Scheme::Digits(5),
        regions: &[("Comunidad de Madrid", ""), ("Cataluña", ""), ("Comunitat Valenciana", ""), ("Andalucía", ""),
            ("País Vasco", "")],
        cities: &[
            c("Madrid", 0, 9, &["91|"], r(28001, 28080)),
            c("Alcalá de Henares", 0, 9, &["91|8"], r(28801, 28807)),
            c("Barcelona", 1, 9, &["93|"], r(8001, 8042)),
            c("Girona", 1, 9, &["972|"], r(17001, 17007)),
            c("Valencia", 2, 9, &["96|3"], r(46001, 46026)),
            c("Alicante", 2, 9, &["96|5"], r(3001, 3016)),
            c("Sevilla", 3, 9, &["95|4"], r(41001, 41020)),
            c("Málaga", 3, 9, &["95|2"], r(29001, 29018)),
            c("Bilbao", 4, 9, &["94|4"], r(48001, 48015)),
            c("San Sebastián", 4, 9, &["94|3"], r(20001, 20018)),
        ] },
    Geography { code: "IT", abbreviated: true, postal: Scheme::Digits(5),
        regions: &[("Milano", "MI"), ("Roma", "RM"), ("Torino", "TO"), ("Bologna", "BO"), ("Firenze", "FI"),
            ("Napoli", "NA")],
        cities: &[
            c("Milano", 0, 10, &["02|"], r(20121, 20162)),
            c("Sesto San Giovanni", 0, 10, &["02|"], r(20099, 20099)),
            c("Rho", 0, 10, &["02|"], r(20017, 20017)),
            c("Roma", 1, 10, &["06|"], r(118, 199)),
            c("Fiumicino", 1, 10, &["06|"], r(54, 54)),
            c("Tivoli", 1, 10, &["0774|"], r(19, 19)),
            c("Torino", 2, 10, &["011|"], r(10121, 10156)),
            c("Moncalieri", 2, 10, &["011|"], r(10024, 10024)),
            c("Bologna", 3, 10, &["051|"], r(40121, 40141)),
            c("Imola", 3, 10, &["0542|"], r(40026, 40026)),
            c("Firenze", 4, 10, &["055|"], r(50121, 50145)),
            c("Empoli", 4, 10, &["0571|"], r(50053, 50053)),
            c("Napoli", 5, 10, &["081|"], r(80121, 80147)),
            c("Pozzuoli", 5, 10, &["081|"], r(80078, 80078)),
        ] },
    Geography { code: "SE", abbreviated: false, postal: Scheme::Sweden,
        regions: &[("Stockholms län", ""), ("Västra Götalands län", ""), ("Skåne län", ""), ("Uppsala län", "")],
        cities: &[
            c("Stockholm", 0, 9, &["8|"], r(11120, 11869)),
            c("Solna", 0, 9, &["8|"], r(16970, 16979)),
            c("Göteborg", 1, 9, &["31|"], r(41101, 41875)),
            c("Borås", 1, 9, &["33|"], r(50330, 50764)),
            c("Malmö", 2, 9, &["40|"], r(21115, 21775)),
            c("Lund", 2, 9, &["46|"], r(22100, 22660)),
            c("Uppsala", 3, 9, &["18|"], r(75220, 75758)),
            c("Enköping", 3, 9, &["171|"], r(74530, 74563)),
        ] },
    Geography { code: "CH", abbreviated: true, postal: Scheme::Digits(4),
        regions: &[("Zürich", "ZH"), ("Genève", "GE"), ("Basel-Stadt", "BS"), ("Bern", "BE"), ("Vaud", "VD")],
        cities: &[
            c("Zürich", 0, 9, &["44|", "43|"], r(8001, 8099)),
            c("Winterthur", 0, 9, &["52|"], r(8400, 8411)),
            c("Genève", 1, 9, &["22|"], r(1201, 1209)),
            c("Carouge", 1, 9, &["22|"], r(1227, 1227)),
            c("Basel", 2, 9, &["61|"], r(4001, 4059)),
            c("Riehen", 2, 9, &["61|"], r(4125, 4126)),
            c("Bern", 3, 9, &["31|"], r(3001, 3030)),
            c("Biel/Bienne", 3, 9, &["32|"], r(2502, 2505)),
            c("Lausanne", 4, 9, &["21|"], r(1003, 1018)),
            c("Montreux", 4, 9, &["21|"], r(1820, 1820)),
        ] },
    Geography { code: "SG", abbreviated: false, postal: Scheme::Digits(6),
        regions: &[("", "")],
        cities: &[c("Singapore", 0, 8, &["|62", "|63", "|64", "|67"], r(18_900, 828_999))] },
    Geography { code: "MX", abbreviated: true, postal: Scheme::Digits(5),
        regions: &[("Ciudad de México", "CDMX"), ("Nuevo León", "NL"), ("Jalisco", "JAL"), ("Puebla", "PUE"),
            ("Querétaro", "QRO"), ("Estado de México", "MEX")],
        cities: &[
            c("Ciudad de México", 0, 10, &["55|"], r(1000, 16999)),
            c("Monterrey", 1, 10, &["81|"], r(64000, 64999)),
            c("San Pedro Garza García", 1, 10, &["81|"], r(66200, 66299)),
            c("Guadalajara", 2, 10, &["33|"], r(44100, 44990)),
            c("Zapopan", 2, 10, &["33|"], r(45010, 45239)),
            c("Puebla", 3, 10, &["222|"], r(72000, 72599)),
            c("Querétaro", 4, 10, &["442|"], r(76000, 76250)),
            c("Toluca", 5, 10, &["722|"], r(50000, 50299)),
            c("Naucalpan", 5, 10, &["55|"], r(53000, 53970)),
        ] },
    Geography { code: "PL", abbreviated: false, postal: Scheme::Poland,
        regions: &[("Mazowieckie", ""), ("Małopolskie", ""), ("Dolnośląskie", ""), ("Pomorskie", ""),
            ("Wielkopolskie", "")],
        cities: &[
            c("Warszawa", 0, 9, &["22|"], r(1, 4999)),
            // Not Radom (48): a national number starting with Poland's calling code reads as international.
            c("Płock", 0, 9, &["24|"], r(9400, 9420)),
            c("Kraków", 1, 9, &["12|"], r(30001, 31999)),
            c("Tarnów", 1, 9, &["14|"], r(33100, 33110)),
            c("Wrocław", 2, 9, &["71|"], r(50001, 54999)),
            c("Wałbrzych", 2, 9, &["74|"], r(58300, 58316)),
            c("Gdańsk", 3, 9, &["58|"], r(80001, 80999)),
            c("Gdynia", 3, 9, &["58|"], r(81001, 81999)),
            c("Poznań", 4, 9, &["61|"], r(60001, 61999)),
            c("Kalisz", 4, 9, &["62|"], r(62800, 62816)),
        ] },
    Geography { code: "IE", abbreviated: false, postal: Scheme::Eircode,
        regions: &[("Co. Dublin", ""), ("Co. Cork", ""), ("Co. Galway", "")],
        cities: &[
            c("Dublin", 0, 8, &["1|"], p(&["D01", "D02", "D04", "D08", "D18", "D24"])),
            c("Dún Laoghaire", 0, 8, &["1|2"], p(&["A96"])),
            c("Cork", 1, 9, &["21|"], p(&["T12", "T23"])),
            c("Mallow", 1, 7, &["22|"], p(&["P51"])),
            c("Galway", 2, 8, &["91|"], p(&["H91"])),
            c("Tuam", 2, 7, &["93|"], p(&["H54"])),
        ] },
    Geography { code: "DK", abbreviated: false, postal: Scheme::Digits(4),
        regions: &[("Region Hovedstaden", ""), ("Region Midtjylland", ""), ("Region Syddanmark", "")],
        cities: &[
            c("København", 0, 8, &["33|", "32|", "35|"], r(1050, 2450)),
            c("Frederiksberg", 0, 8, &["38|2", "38|3", "38|4"], r(1800, 2000)),
            c("Aarhus", 1, 8, &["86|", "87|"], r(8000, 8270)),
            c("Herning", 1, 8, &["97|"], r(7400, 7430)),
            c("Odense", 2, 8, &["63|", "65|"], r(5000, 5270)),
            c("Vejle", 2, 8, &["75|", "76|"], r(7100, 7120)),
        ] },
    Geography { code: "BE", abbreviated: false, postal: Scheme::Digits(4),
        regions: &[("Bruxelles-Capitale", ""), ("Antwerpen", ""), ("Oost-Vlaanderen", ""), ("Liège", ""),
            ("Vlaams-Brabant", "")],
        cities: &[
            c("Bruxelles", 0, 8, &["2|2", "2|5", "2|6", "2|7"], r(1000, 1210)),
            c("Ixelles", 0, 8, &["2|5", "2|6"], r(1050, 1050)),
            c("Antwerpen", 1, 8, &["3|2", "3|3"], r(2000, 2660)),
            c("Mechelen", 1, 8, &["15|"], r(2800, 2812)),
            c("Gent", 2, 8, &["9|2", "9|3"], r(9000, 9052)),
            c("Aalst", 2, 8, &["53|"], r(9300, 9320)),
            c("Liège", 3, 8, &["4|2", "4|3"], r(4000, 4032)),
            c("Verviers", 3, 8, &["87|"], r(4800, 4802)),
            c("Leuven", 4, 8, &["16|"], r(3000, 3012)),
        ] },
    Geography { code: "AT", abbreviated: false, postal: Scheme::Digits(4),
        regions: &[("Wien", ""), ("Steiermark", ""), ("Oberösterreich", ""), ("Salzburg", ""), ("Tirol", "")],
        cities: &[
            c("Wien", 0, 8, &["1|"], rs(1010, 1230, 10)),
            c("Graz", 1, 9, &["316|"], r(8010, 8055)),
            c("Leoben", 1, 9, &["3842|"], r(8700, 8712)),
            c("Linz", 2, 9, &["732|"], r(4020, 4040)),
            c("Wels", 2, 9, &["7242|"], r(4600, 4600)),
            c("Salzburg", 3, 9, &["662|"], r(5020, 5026)),
            c("Hallein", 3, 9, &["6245|"], r(5400, 5400)),
            c("Innsbruck", 4, 9, &["512|"], r(6020, 6080)),
            c("Kufstein", 4, 9, &["5372|"], r(6330, 6330)),
        ] },
    Geography { code: "NO", abbreviated: false, postal: Scheme::Digits(4),
        regions: &[("Oslo", ""), ("Vestland", ""), ("Trøndelag", ""), ("Rogaland", ""), ("Viken", "")],
        cities: &[
            c("Oslo", 0, 8, &["22|", "23|"], r(150, 1295)),
            c("Bergen", 1, 8, &["55|"], r(5003, 5099)),
            c("Trondheim", 2, 8, &["73|"], r(7010, 7099)),
            c("Stavanger", 3, 8, &["51|"], r(4001, 4099)),
            c("Sandnes", 3, 8, &["51|"], r(4306, 4329)),
            c("Drammen", 4, 8, &["32|"], r(3001, 3050)),
            c("Fredrikstad", 4, 8, &["69|"], r(1601, 1640)),
        ] },
    Geography { code: "FI", abbreviated: false, postal: Scheme::Digits(5),
        regions: &[("Uusimaa", ""), ("Pirkanmaa", ""), ("Pohjois-Pohjanmaa", ""), ("Varsinais-Suomi", "")],
        cities: &[
            c("Helsinki", 0, 8, &["9|2", "9|4", "9|6", "9|7"], rs(100, 990, 10)),
            c("Espoo", 0, 8, &["9|8", "9|5"], rs(2100, 2980, 10)),
            c("Tampere", 1, 8, &["3|2"], rs(33100, 33900, 10)),
            c("Nokia", 1, 8, &["3|3"], rs(37100, 37150, 10)),
            c("Oulu", 2, 8, &["8|5"], rs(90100, 90980, 10)),
            c("Turku", 3, 8, &["2|2", "2|4"], rs(20100, 20960, 10)),
        ] },
    Geography { code: "KR", abbreviated: false, postal: Scheme::Digits(5),
        regions: &[("Seoul", ""), ("Busan", ""), ("Incheon", ""), ("Daejeon", ""), ("Gyeonggi-do", "")],
        cities: &[
            c("Seoul", 0, 9, &["2|"], r(1000, 8899)),
            c("Busan", 1, 9, &["51|"], r(46000, 49999)),
            c("Incheon", 2, 9, &["32|"], r(21000, 23199)),
            c("Daejeon", 3, 9, &["42|"], r(34000, 35999)),
            c("Suwon", 4, 9, &["31|"], r(16200, 16709)),
            c("Seongnam", 4, 9, &["31|"], r(13100, 13699)),
        ] },
    Geography { code: "ZA", abbreviated: true, postal: Scheme::Digits(4),
        regions: &[("Gauteng", "GP"), ("Western Cape", "WC"), ("KwaZulu-Natal", "KZN"), ("Eastern Cape", "EC")],
        cities: &[
            c("Johannesburg", 0, 9, &["11|"], r(2000, 2199)),
            c("Pretoria", 0, 9, &["12|"], r(1, 199)),
            c("Cape Town", 1, 9, &["21|"], r(8000, 8099)),
            c("Stellenbosch", 1, 9, &["21|"], r(7600, 7613)),
            c("Durban", 2, 9, &["31|"], r(4001, 4099)),
            c("Pietermaritzburg", 2, 9, &["33|"], r(3201, 3209)),
            c("Gqeberha", 3, 9, &["41|"], r(6001, 6070)),
            c("East London", 3, 9, &["43|"], r(5200, 5247)),
        ] },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::countries::COUNTRIES;

    #[test]
    fn geography_follows_the_country_table() {
        for (g, country) in GEOGRAPHY.iter().zip(&COUNTRIES) {
            assert_eq!(g.code, country.code);
            assert!(!g.cities.is_empty() && !g.regions.is_empty());
            for city in g.cities {
                assert!(city.region < g.regions.len(), "{} has no region", city.name);
                assert!(!city.areas.is_empty());
                for area in city.areas {
                    let (code, lead) = area.split_once('|').expect("area|lead");
                    assert!(code.len() + lead.len() < city.digits, "{} area {area}", city.name);
                    assert!(area.bytes().all(|b| b == b'|' || b.is_ascii_digit()));
                }
                match city.postal {
                    PostalArea::Range { lo, hi, step } => assert!(lo <= hi && step > 0, "{}", city.name),
                    PostalArea::Prefixes(list) => assert!(!list.is_empty()),
                }
            }
            if g.abbreviated {
                assert!(g.regions.iter().all(|(_, abbr)| !abbr.is_empty()), "{} lacks abbreviations", g.code);
            }
        }
    }
}
