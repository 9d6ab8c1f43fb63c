//! The mapping-file reader of blindmap-records on arbitrary text, and what a mapping it accepts
//! makes of a few small exports: errors, never a panic.
#![no_main]

use blindmap_records::{Mapping, Side, import_dataset};
use libfuzzer_sys::fuzz_target;

/// Small exports in the shapes the mapping files of the tests and README read.
const EXPORTS: [&str; 3] = [
    "Key;Organisation;Web;Contact;Land;Tier\n\
     A1;Acme GmbH;https://acme.de;jane@acme-group.com;Deutschland;Gold\n\
     A2;Beta Ltd;;tom@gmail.com;UK;Silver\n\
     A3;Gamma;gamma.io;;;Gold\n",
    "Account ID,Account Name,Type,Website,Billing City,Billing Country,Industry,Employees,Account Owner,\
     D-U-N-S Number,Description,Open Opportunities,Sales Region\n\
     0015g00000NWTRdAAF,Northwind Traders Inc.,Customer - Direct,https://www.northwindtraders.com/about,Seattle,\
     United States,Retail,1200,Ada Byron,118273645,,2,West\n\
     0015g00000CNTSbAAB,\"Contoso Pharmaceuticals, Ltd\",Prospect,,Cambridge,UK,Pharmaceuticals,5400,Grace Hopper,,,0,\n",
    "Record ID,Company name,Company Domain Name,Website URL,Additional Domains,Country/Region,City,Industry,\
     Number of Employees,Lifecycle Stage,Company owner,D-U-N-S Number\n\
     9001120031,NORTHWIND TRADERS,northwindtraders.com,https://northwindtraders.com,,United States,Seattle,Retail,\
     1200,Customer,Linus Torvalds,\n",
];

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = core::str::from_utf8(bytes) else { return };
    let Ok(mapping) = Mapping::from_toml(text) else { return };
    for export in EXPORTS {
        let _ = import_dataset("fuzz.csv", export.as_bytes(), &mapping, Side::First, |_| {});
    }
});
