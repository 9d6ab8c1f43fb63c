//! Company names made of common surnames, the way small firms and Faker-style data name companies: "Brown",
//! "Müller-Schmidt", "Martin, Bernard et Dubois", "Rossi & Figli", "Grupo García", "Moore Consulting". Such
//! names recur: the same one belongs to unrelated companies of the same country, so a name match alone proves
//! little.

use crate::countries::COUNTRIES;
use crate::util::{Rng, chance, pick, pick_weighted};

#[rustfmt::skip]
const ENGLISH: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas",
    "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell",
    "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris",
    "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward",
    "Cox", "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "Hughes", "Price", "Sanders", "Myers",
    "Long", "Ross", "Foster", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Fisher", "Butler", "Barnes",
    "Henderson", "Coleman", "Simmons", "Patterson", "Jordan", "Reynolds", "Hamilton", "Graham", "Wallace", "Cole",
    "West", "Hayes", "Stone", "Marshall", "Owens", "Harrison", "Gibson", "Ellis", "Murray", "Ford", "Hunt",
    "Palmer", "Walsh", "O'Brien", "O'Connor", "Davies", "Lloyd",
];
#[rustfmt::skip]
const GERMAN: &[&str] = &[
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun",
    "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier", "Lehmann",
    "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs",
    "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Schubert",
];
#[rustfmt::skip]
const FRENCH: &[&str] = &[
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent", "Simon",
    "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont",
    "Lambert", "Fontaine", "Rousseau", "Vincent", "Lefèvre", "Faure", "André", "Mercier", "Blanc", "Guérin",
    "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Perrin", "Robin", "Clément", "Morin",
    "Nicolas", "Henry", "Roussel", "Mathieu", "Masson",
];
#[rustfmt::skip]
const SPANISH: &[&str] = &[
    "García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín",
    "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso", "Gutiérrez",
    "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Ramírez", "Serrano", "Blanco", "Molina",
    "Morales", "Suárez", "Ortega", "Delgado", "Castro", "Ortiz", "Rubio", "Marín", "Sanz", "Núñez",
];
#[rustfmt::skip]
const ITALIAN: &[&str] = &[
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno",
    "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri",
    "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo",
    "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra", "Coppola", "De Santis", "D'Angelo", "Marchetti",
];
#[rustfmt::skip]
const DUTCH: &[&str] = &[
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer",
    "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer",
];
#[rustfmt::skip]
const PORTUGUESE: &[&str] = &[
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes", "Ribeiro",
    "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha",
];
#[rustfmt::skip]
const SWEDISH: &[&str] = &[
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson",
    "Gustafsson", "Pettersson", "Jonsson", "Lindberg", "Lindqvist", "Magnusson",
];
#[rustfmt::skip]
const DANISH_NORWEGIAN: &[&str] = &[
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Jensen", "Nielsen", "Christensen",
    "Kristiansen", "Karlsen", "Rasmussen", "Sørensen", "Berg",
];
#[rustfmt::skip]
const FINNISH: &[&str] = &[
    "Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen", "Koskinen",
    "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen",
];
#[rustfmt::skip]
const POLISH: &[&str] = &[
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński", "Szymański",
    "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Kwiatkowski",
];
#[rustfmt::skip]
const JAPANESE: &[&str] = &[
    "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato",
    "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue", "Kimura", "Hayashi", "Shimizu", "Yamazaki",
];
#[rustfmt::skip]
const KOREAN: &[&str] = &[
    "Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han", "Oh", "Seo", "Shin", "Kwon",
];
#[rustfmt::skip]
const INDIAN: &[&str] = &[
    "Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair", "Mehta", "Shah", "Rao", "Joshi",
    "Agarwal", "Verma", "Malhotra", "Kapoor", "Chopra", "Banerjee", "Das", "Menon",
];
#[rustfmt::skip]
const SINGAPOREAN: &[&str] = &[
    "Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua", "Chan", "Koh", "Teo", "Ang", "Yeo", "Tay",
];
#[rustfmt::skip]
const AFRIKAANS: &[&str] = &[
    "van der Merwe", "Botha", "Pretorius", "Nel", "du Plessis", "Venter", "Coetzee",
];
#[rustfmt::skip]
const TRADES: &[&str] = &[
    "Consulting", "Associates", "Partners", "Holdings", "Industries", "Logistics", "Engineering", "Solutions",
    "Services", "Capital", "Construction", "Design", "Systems", "Ventures", "Enterprises",
];

/// How one language joins surnames into a company name.
struct Culture {
    surnames: &'static [&'static str],
    /// Also drawn from, a quarter of the time (Afrikaans names in South Africa).
    also: &'static [&'static str],
    and: &'static str,
    /// Text after the surname for "and sons".
    sons: &'static str,
    /// Words before and after the surname for "group": "Groupe Martin", "Brown Group".
    group: (&'static str, &'static str),
}

fn culture(country: usize) -> Culture {
    let english = Culture { surnames: ENGLISH, also: &[], and: "and", sons: " and Sons", group: ("", " Group") };
    match COUNTRIES[country].code {
        "DE" | "AT" | "CH" => {
            Culture { surnames: GERMAN, also: &[], and: "und", sons: " & Söhne", group: ("", " Gruppe") }
        }
        "FR" | "BE" => Culture { surnames: FRENCH, also: &[], and: "et", sons: " et Fils", group: ("Groupe ", "") },
        "ES" | "MX" => Culture { surnames: SPANISH, also: &[], and: "y", sons: " e Hijos", group: ("Grupo ", "") },
        "IT" => Culture { surnames: ITALIAN, also: &[], and: "e", sons: " & Figli", group: ("Gruppo ", "") },
        "NL" => Culture { surnames: DUTCH, also: &[], and: "en", sons: " & Zonen", group: ("", " Groep") },
        "BR" => Culture { surnames: PORTUGUESE, also: &[], and: "e", sons: " & Filhos", group: ("Grupo ", "") },
        "SE" => Culture { surnames: SWEDISH, also: &[], and: "och", sons: " & Söner", group: ("", " Gruppen") },
        "DK" | "NO" => {
            Culture { surnames: DANISH_NORWEGIAN, also: &[], and: "og", sons: " & Sønner", group: ("", " Gruppen") }
        }
        "FI" => Culture { surnames: FINNISH, ..english },
        "PL" => Culture { surnames: POLISH, also: &[], and: "i", sons: " i Synowie", group: ("Grupa ", "") },
        "JP" => Culture { surnames: JAPANESE, ..english },
        "KR" => Culture { surnames: KOREAN, ..english },
        "IN" => Culture { surnames: INDIAN, ..english },
        "SG" => Culture { surnames: SINGAPOREAN, ..english },
        "ZA" => Culture { also: AFRIKAANS, ..english },
        _ => english,
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Bare,
    Hyphenated,
    Three,
    Sons,
    Group,
    Pair,
    Trade,
}

fn surname(rng: &mut Rng, culture: &Culture) -> &'static str {
    let list = if !culture.also.is_empty() && chance(rng, 0.25) { culture.also } else { culture.surnames };
    pick::<&str>(rng, list)
}

/// A surname of `culture` other than those in `taken`: "Smith & Smith" reads as nobody's firm.
fn another(rng: &mut Rng, culture: &Culture, taken: &[&str]) -> &'static str {
    loop {
        let s = surname(rng, culture);
        if !taken.contains(&s) {
            return s;
        }
    }
}

/// A surname-style brand for a company of `country`; the legal form is attached later, so "Brown" becomes
/// "Brown LLC" and "Müller-Schmidt" "Müller-Schmidt GmbH".
pub(crate) fn brand(rng: &mut Rng, country: usize) -> String {
    let culture = culture(country);
    let a = surname(rng, &culture);
    let shapes = [
        (Shape::Bare, 30),
        (Shape::Hyphenated, 15),
        (Shape::Three, 8),
        (Shape::Sons, 10),
        (Shape::Group, 12),
        (Shape::Pair, 10),
        (Shape::Trade, 15),
    ];
    match pick_weighted(rng, &shapes) {
        Shape::Bare => a.to_owned(),
        Shape::Hyphenated => format!("{a}-{}", another(rng, &culture, &[a])),
        Shape::Three => {
            let b = another(rng, &culture, &[a]);
            format!("{a}, {b} {} {}", culture.and, another(rng, &culture, &[a, b]))
        }
        Shape::Sons => format!("{a}{}", culture.sons),
        Shape::Group => format!("{}{a}{}", culture.group.0, culture.group.1),
        Shape::Pair => format!("{a} & {}", another(rng, &culture, &[a])),
        Shape::Trade => format!("{a} {}", pick(rng, TRADES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::brand_key;
    use crate::util::{Stream, rng_for};
    use std::collections::HashSet;

    #[test]
    fn names_are_surnames_in_faker_shapes() {
        let mut rng = rng_for(3, Stream::World, 0);
        let de = COUNTRIES.iter().position(|c| c.code == "DE").unwrap();
        let names: Vec<String> = (0..2000).map(|_| brand(&mut rng, 0)).collect();
        assert!(names.iter().any(|n| ENGLISH.contains(&n.as_str())), "bare surnames");
        assert!(names.iter().any(|n| n.ends_with(" and Sons")));
        assert!(names.iter().any(|n| n.contains(", ") && n.contains(" and ")));
        assert!(names.iter().any(|n| n.contains('-')));
        assert!(names.iter().all(|n| ENGLISH.iter().any(|s| n.starts_with(s))), "every name starts with a surname");
        // Few enough shapes and surnames that names recur: that is the point.
        let distinct: HashSet<String> = names.iter().map(|n| brand_key(n)).collect();
        assert!(distinct.len() < 1900, "{}", distinct.len());
        let german: Vec<String> = (0..200).map(|_| brand(&mut rng, de)).collect();
        assert!(german.iter().any(|n| n.ends_with(" & Söhne") || n.ends_with(" Gruppe")));
    }
}
