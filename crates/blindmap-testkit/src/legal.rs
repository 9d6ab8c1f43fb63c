//! Legal forms and the ways people write them in a CRM.

/// The other spellings of a legal form, weighted by how often people type them. A leading comma attaches the form
/// to the name without a space ("Acme, Inc.").
pub(crate) fn variants(form: &str) -> &'static [(&'static str, u32)] {
    match form {
        "Inc" => &[("Inc.", 6), (", Inc.", 5), (", Inc", 2), ("Incorporated", 2), ("INC", 1)],
        "LLC" => &[("L.L.C.", 2), (", LLC", 4), ("Llc", 1), ("Limited Liability Company", 1)],
        "Corp" => &[("Corp.", 6), ("Corporation", 3), (", Corp.", 1)],
        "Corporation" => &[("Corp.", 5), ("Corp", 3), ("Corporation.", 1)],
        "Co" => &[("Co.", 6), ("Company", 3), ("& Co.", 1)],
        "Ltd" => &[("Ltd.", 6), ("Limited", 5), ("LTD", 1)],
        "Limited" => &[("Ltd", 5), ("Ltd.", 5)],
        "PLC" => &[("plc", 6), ("P.L.C.", 2), ("Public Limited Company", 1)],
        // The long form is rare in CRMs but does turn up from registry imports.
        "GmbH" => &[("Gmbh", 4), ("GMBH", 2), ("G.m.b.H.", 1), ("Gesellschaft mit beschränkter Haftung", 1)],
        "AG" => &[("A.G.", 1), ("Aktiengesellschaft", 1)],
        "GmbH & Co. KG" => &[("GmbH & Co KG", 5), ("GmbH u. Co. KG", 2), ("GmbH und Co. KG", 2)],
        "SA" => &[("S.A.", 5), ("S.A", 1)],
        "SAS" => &[("S.A.S.", 5), ("Sas", 1)],
        "SARL" => &[("S.A.R.L.", 4), ("Sàrl", 2), ("S.à r.l.", 1)],
        "B.V." => &[("BV", 6), ("B.V", 2), ("bv", 1)],
        "N.V." => &[("NV", 6), ("N.V", 1)],
        "K.K." => &[("KK", 3), ("Kabushiki Kaisha", 2), ("Co., Ltd.", 1)],
        "Co., Ltd." => &[("Co. Ltd.", 4), ("Co Ltd", 3), ("Company Limited", 2), ("Co., Limited", 1)],
        "Pty Ltd" => &[("Pty. Ltd.", 6), ("PTY LTD", 2), ("Proprietary Limited", 1), ("Pty Limited", 2)],
        "(Pty) Ltd" => &[("Pty Ltd", 5), ("(Pty) Limited", 2), ("(PTY) LTD", 1)],
        "Pvt Ltd" => &[("Pvt. Ltd.", 6), ("Private Limited", 4), ("Pvt. Ltd", 2)],
        "Private Limited" => &[("Pvt Ltd", 5), ("Pvt. Ltd.", 5)],
        "Pte Ltd" => &[("Pte. Ltd.", 6), ("Private Limited", 2), ("PTE LTD", 1)],
        "Ltda" => &[("Ltda.", 6), ("LTDA", 2), ("Limitada", 1)],
        "S.A." => &[("SA", 6), ("S/A", 2), ("S.A", 1)],
        "S.L." => &[("SL", 6), ("S.L", 2), ("Sociedad Limitada", 1)],
        "S.r.l." => &[("Srl", 6), ("S.R.L.", 3), ("s.r.l.", 1)],
        "S.p.A." => &[("SpA", 6), ("S.P.A.", 3)],
        "S.A. de C.V." => &[("SA de CV", 6), ("S.A. DE C.V.", 2), ("S.A de C.V", 1)],
        "AB" => &[("AB (publ)", 2), ("Aktiebolag", 1)],
        "Sp. z o.o." => &[("Sp. z o. o.", 4), ("sp. z o.o.", 4), ("Sp z oo", 1)],
        "DAC" => &[("D.A.C.", 3), ("Designated Activity Company", 1)],
        "A/S" => &[("AS", 3), ("A.S.", 1)],
        "ApS" => &[("Aps", 3), ("APS", 1)],
        "NV" => &[("N.V.", 4)],
        "BV" => &[("B.V.", 4), ("BVBA", 1)],
        "SRL" => &[("S.R.L.", 3), ("SPRL", 1)],
        "AS" => &[("A/S", 3), ("A.S.", 1)],
        "ASA" => &[("A.S.A.", 1)],
        "Oy" => &[("OY", 3), ("Oy Ab", 1)],
        "Oyj" => &[("OYJ", 2), ("Oyj Abp", 1)],
        _ => &[],
    }
}

/// `brand` followed by `form`, the way a registered name is written.
pub(crate) fn attach(brand: &str, form: &str) -> String {
    if form.is_empty() {
        brand.to_owned()
    } else if form.starts_with(',') {
        format!("{brand}{form}")
    } else {
        format!("{brand} {form}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::countries::COUNTRIES;

    #[test]
    fn every_country_form_has_variants() {
        for country in &COUNTRIES {
            for form in country.legal_forms {
                assert!(!variants(form).is_empty(), "{form} of {} has no variants", country.code);
            }
        }
    }

    #[test]
    fn comma_forms_attach_without_space() {
        assert_eq!(attach("Acme", ", Inc."), "Acme, Inc.");
        assert_eq!(attach("Acme", "Inc"), "Acme Inc");
        assert_eq!(attach("Acme", ""), "Acme");
    }
}
