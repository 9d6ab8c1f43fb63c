//! The CSV importer of blindmap-records on arbitrary bytes, through each preset or the one its
//! header fits, for either side: errors, never a panic.
//!
//! Input: one byte choosing the mapping (low two bits: Salesforce, HubSpot, generic, detected)
//! and the side (bit 2), then the export.
#![no_main]

use blindmap_records::{Mapping, Preset, Side, import_dataset, read_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&choice, export)) = input.split_first() else { return };
    let mapping: Mapping = match choice & 3 {
        0 => Preset::Salesforce.mapping(),
        1 => Preset::Hubspot.mapping(),
        2 => Preset::Generic.mapping(),
        _ => {
            let Ok(header) = read_header("fuzz.csv", export, None) else { return };
            let Some(preset) = Preset::detect(&header) else { return };
            preset.mapping()
        }
    };
    let side = if choice & 4 == 0 { Side::First } else { Side::Second };
    let Ok(imported) = import_dataset("fuzz.csv", export, &mapping, side, |_| {}) else { return };
    assert!(imported.dataset.records().len() as u64 <= imported.summary.rows, "more records than rows");
});
