//! The countries of the world, with the conventions a CRM record from each one follows.

use crate::util::{Rng, pick_weighted};

/// How street addresses are written in a country.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StreetStyle {
    /// "1200 Harbor Ave"
    Anglo,
    /// "Lindenstraße 14"
    German,
    /// "14 rue de la Paix"
    French,
    /// "Calle Mayor 14", "Via Roma 14"
    Latin,
    /// "Storgatan 14"
    Nordic,
    /// "2-14-3 Shibuya" and other numbered forms
    Numbered,
}

/// One country and its conventions.
#[derive(Debug)]
pub(crate) struct Country {
    /// ISO 3166-1 alpha-2 code.
    pub(crate) code: &'static str,
    /// Share of companies, in tenths of a percent.
    pub(crate) weight: u32,
    /// The English name first (what clean records hold), then the other ways people write it.
    pub(crate) names: &'static [&'static str],
    /// The country-code top-level domain, or `.com` for the US.
    pub(crate) tld: &'static str,
    /// Legal forms of companies registered there.
    pub(crate) legal_forms: &'static [&'static str],
    /// Cities with their state or region (empty where CRMs rarely fill it in).
    pub(crate) cities: &'static [(&'static str, &'static str)],
    /// International dialling code.
    pub(crate) calling_code: &'static str,
    /// Postal code pattern: `9` a digit, `A` an upper-case letter, anything else literal.
    pub(crate) postal: &'static str,
    /// How street addresses look.
    pub(crate) street: StreetStyle,
}

macro_rules! country {
    ($code:literal, $w:literal, $names:expr, $tld:literal, $forms:expr, $cities:expr, $cc:literal, $postal:literal,
     $st:ident) => {
        Country {
            code: $code,
            weight: $w,
            names: &$names,
            tld: $tld,
            legal_forms: &$forms,
            cities: &$cities,
            calling_code: $cc,
            postal: $postal,
            street: StreetStyle::$st,
        }
    };
}

/// Weighted like the account base of a US-headquartered B2B vendor with international customers.
#[rustfmt::skip]
pub(crate) static COUNTRIES: [Country; 25] = [
    country!("US", 400, ["United States", "USA", "US", "U.S.", "United States of America", "U.S.A."], ".com",
        ["Inc", "LLC", "Corp", "Corporation", "Co"],
        [("San Francisco", "CA"), ("New York", "NY"), ("Austin", "TX"), ("Chicago", "IL"), ("Seattle", "WA"),
         ("Boston", "MA"), ("Denver", "CO"), ("Atlanta", "GA"), ("Miami", "FL"), ("Columbus", "OH"),
         ("Portland", "OR"), ("Minneapolis", "MN"), ("Phoenix", "AZ"), ("Raleigh", "NC"), ("Pittsburgh", "PA"),
         ("Nashville", "TN"), ("Salt Lake City", "UT"), ("San Diego", "CA"), ("Dallas", "TX"), ("Detroit", "MI")],
        "1", "99999", Anglo),
    country!("GB", 100, ["United Kingdom", "UK", "GB", "Great Britain", "England", "U.K."], ".co.uk",
        ["Ltd", "Limited", "PLC"],
        [("London", ""), ("Manchester", ""), ("Birmingham", ""), ("Leeds", ""), ("Edinburgh", "Scotland"),
         ("Bristol", ""), ("Glasgow", "Scotland"), ("Cambridge", ""), ("Cardiff", "Wales")],
        "44", "AA9 9AA", Anglo),
    country!("DE", 80, ["Germany", "Deutschland", "DE", "GER"], ".de", ["GmbH", "AG", "GmbH & Co. KG"],
        [("Berlin", "Berlin"), ("München", "Bayern"), ("Hamburg", "Hamburg"), ("Frankfurt am Main", "Hessen"),
         ("Köln", "Nordrhein-Westfalen"), ("Stuttgart", "Baden-Württemberg"), ("Düsseldorf", "Nordrhein-Westfalen"),
         ("Leipzig", "Sachsen"), ("Nürnberg", "Bayern")],
        "49", "99999", German),
    country!("FR", 60, ["France", "FR", "FRA", "République française"], ".fr", ["SA", "SAS", "SARL"],
        [("Paris", "Île-de-France"), ("Lyon", ""), ("Marseille", ""), ("Toulouse", ""), ("Lille", ""),
         ("Nantes", ""), ("Bordeaux", ""), ("Grenoble", "")],
        "33", "99999", French),
    country!("CA", 50, ["Canada", "CA", "CAN"], ".ca", ["Inc", "Ltd", "Corp"],
        [("Toronto", "ON"), ("Vancouver", "BC"), ("Montréal", "QC"), ("Calgary", "AB"), ("Ottawa", "ON"),
         ("Waterloo", "ON")],
        "1", "A9A 9A9", Anglo),
    country!("AU", 30, ["Australia", "AU", "AUS"], ".com.au", ["Pty Ltd"],
        [("Sydney", "NSW"), ("Melbourne", "VIC"), ("Brisbane", "QLD"), ("Perth", "WA"), ("Adelaide", "SA")],
        "61", "9999", Anglo),
    country!("NL", 30, ["Netherlands", "The Netherlands", "Holland", "NL", "Nederland"], ".nl", ["B.V.", "N.V."],
        [("Amsterdam", "Noord-Holland"), ("Rotterdam", "Zuid-Holland"), ("Utrecht", "Utrecht"),
         ("Eindhoven", "Noord-Brabant"), ("Den Haag", "Zuid-Holland")],
        "31", "9999 AA", Latin),
    country!("JP", 30, ["Japan", "JP", "JPN", "Nippon"], ".co.jp", ["K.K.", "Co., Ltd."],
        [("Tokyo", "Tokyo"), ("Osaka", "Osaka"), ("Yokohama", "Kanagawa"), ("Nagoya", "Aichi"),
         ("Fukuoka", "Fukuoka"), ("Kyoto", "Kyoto")],
        "81", "999-9999", Numbered),
    country!("IN", 30, ["India", "IN", "IND", "Bharat"], ".in", ["Pvt Ltd", "Private Limited"],
        [("Bengaluru", "KA"), ("Mumbai", "MH"), ("New Delhi", "DL"), ("Hyderabad", "TG"), ("Pune", "MH"),
         ("Chennai", "TN")],
        "91", "999999", Numbered),
    country!("BR", 30, ["Brazil", "Brasil", "BR"], ".com.br", ["Ltda", "S.A."],
        [("São Paulo", "SP"), ("Rio de Janeiro", "RJ"), ("Belo Horizonte", "MG"), ("Curitiba", "PR"),
         ("Porto Alegre", "RS")],
        "55", "99999-999", Latin),
    country!("ES", 20, ["Spain", "España", "ES", "ESP"], ".es", ["S.L.", "S.A."],
        [("Madrid", "Madrid"), ("Barcelona", "Cataluña"), ("Valencia", ""), ("Sevilla", "Andalucía"),
         ("Bilbao", ""), ("Málaga", "Andalucía")],
        "34", "99999", Latin),
    country!("IT", 20, ["Italy", "Italia", "IT", "ITA"], ".it", ["S.r.l.", "S.p.A."],
        [("Milano", "MI"), ("Roma", "RM"), ("Torino", "TO"), ("Bologna", "BO"), ("Firenze", "FI"), ("Napoli", "NA")],
        "39", "99999", Latin),
    country!("SE", 15, ["Sweden", "Sverige", "SE"], ".se", ["AB"],
        [("Stockholm", ""), ("Göteborg", ""), ("Malmö", ""), ("Uppsala", "")],
        "46", "999 99", Nordic),
    country!("CH", 15, ["Switzerland", "Schweiz", "Suisse", "CH"], ".ch", ["AG", "SA", "GmbH"],
        [("Zürich", "ZH"), ("Genève", "GE"), ("Basel", "BS"), ("Bern", "BE"), ("Lausanne", "VD")],
        "41", "9999", German),
    country!("SG", 10, ["Singapore", "SG", "SGP"], ".com.sg", ["Pte Ltd"], [("Singapore", "")],
        "65", "999999", Anglo),
    country!("MX", 10, ["Mexico", "México", "MX", "MEX"], ".com.mx", ["S.A. de C.V."],
        [("Ciudad de México", "CDMX"), ("Monterrey", "NL"), ("Guadalajara", "JAL"), ("Puebla", "PUE")],
        "52", "99999", Latin),
    country!("PL", 10, ["Poland", "Polska", "PL"], ".pl", ["Sp. z o.o.", "S.A."],
        [("Warszawa", ""), ("Kraków", ""), ("Wrocław", ""), ("Gdańsk", ""), ("Poznań", "")],
        "48", "99-999", Latin),
    country!("IE", 10, ["Ireland", "Republic of Ireland", "IE", "Éire"], ".ie", ["Ltd", "Limited", "DAC"],
        [("Dublin", "Co. Dublin"), ("Cork", "Co. Cork"), ("Galway", ""), ("Limerick", "")],
        "353", "A99 A9A9", Anglo),
    country!("DK", 8, ["Denmark", "Danmark", "DK"], ".dk", ["A/S", "ApS"],
        [("København", ""), ("Aarhus", ""), ("Odense", "")],
        "45", "9999", Nordic),
    country!("BE", 8, ["Belgium", "Belgique", "België", "BE"], ".be", ["NV", "BV", "SA", "SRL"],
        [("Bruxelles", ""), ("Antwerpen", ""), ("Gent", ""), ("Liège", "")],
        "32", "9999", French),
    country!("AT", 8, ["Austria", "Österreich", "AT"], ".at", ["GmbH", "AG"],
        [("Wien", "Wien"), ("Graz", "Steiermark"), ("Linz", "Oberösterreich"), ("Salzburg", "Salzburg")],
        "43", "9999", German),
    country!("NO", 7, ["Norway", "Norge", "NO"], ".no", ["AS", "ASA"],
        [("Oslo", ""), ("Bergen", ""), ("Trondheim", ""), ("Stavanger", "")],
        "47", "9999", Nordic),
    country!("FI", 7, ["Finland", "Suomi", "FI"], ".fi", ["Oy", "Oyj"],
        [("Helsinki", ""), ("Espoo", ""), ("Tampere", ""), ("Oulu", "")],
        "358", "99999", Nordic),
    country!("KR", 7, ["South Korea", "Korea, Republic of", "Republic of Korea", "KR", "Korea"], ".co.kr",
        ["Co., Ltd."],
        [("Seoul", ""), ("Busan", ""), ("Incheon", ""), ("Daejeon", "")],
        "82", "99999", Numbered),
    country!("ZA", 5, ["South Africa", "ZA", "RSA"], ".co.za", ["(Pty) Ltd"],
        [("Johannesburg", "GP"), ("Cape Town", "WC"), ("Durban", "KZN"), ("Pretoria", "GP")],
        "27", "9999", Anglo),
];

/// Index into [`COUNTRIES`] of the United States, the vendor's home market.
pub(crate) const US: usize = 0;

/// A country drawn by weight, as an index into [`COUNTRIES`].
pub(crate) fn draw(rng: &mut Rng) -> usize {
    // A small fixed table: building the weighted list on each draw is cheaper than caching it.
    let table: [(usize, u32); 25] = std::array::from_fn(|i| (i, COUNTRIES[i].weight));
    pick_weighted(rng, &table)
}

/// A country drawn by weight that is not `not`.
pub(crate) fn draw_other(rng: &mut Rng, not: usize) -> usize {
    loop {
        let c = draw(rng);
        if c != not {
            return c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_thousand_and_codes_are_unique() {
        assert_eq!(COUNTRIES.iter().map(|c| c.weight).sum::<u32>(), 1000);
        let mut codes: Vec<_> = COUNTRIES.iter().map(|c| c.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), COUNTRIES.len());
        assert_eq!(COUNTRIES[US].code, "US");
    }
}
