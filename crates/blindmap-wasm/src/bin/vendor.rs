//! The vendor's side of a browser partner's session, natively, over standard input and output:
//! the node's answer to the page (a Bloom-filter responder that learns nothing and discloses the
//! overlaps, spec §9.7 and §20.3), for the page's tests (partner-page/test/) and for timing the
//! browser's side against it. Frames go back to back both ways, cut by their headers (§8.1).
//! A test program, never shipped: cargo builds it with the crate's integration tests, which puts
//! it where the page's tests look (target/debug/blindmap-wasm-vendor).
//!
//! ```text
//! cargo run -p blindmap-wasm --bin blindmap-wasm-vendor -- EXPORT.csv
//! ```
//!
//! The export is read with the preset its header fits. Prints nothing but frames; exits once the
//! session is over.

use std::io::{BufReader, Read, Write};
use std::sync::Arc;

use blindmap_psi::wire::{FRAME_HEADER_LEN, Frame};
use blindmap_psi::{DisclosurePolicy, Level, Session, SessionConfig, SessionSeed};
use blindmap_records::{Preset, Side, import_dataset, read_header};
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: blindmap-wasm-vendor EXPORT.csv")?;
    let header = read_header(&path, BufReader::new(std::fs::File::open(&path)?), None)?;
    let preset = Preset::detect(&header).ok_or("the export's header fits no preset")?;
    let file = BufReader::new(std::fs::File::open(&path)?);
    let imported = import_dataset(&path, file, &preset.mapping(), Side::Second, |_| {})?;
    let policy = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
    let config = SessionConfig { learn: false, bloom: true, ..SessionConfig::default() };
    let mut session =
        Session::responder(Arc::new(imported.dataset), policy, config, SessionSeed::random(&mut UnwrapErr(SysRng)))?;
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    loop {
        let mut frame = vec![0u8; FRAME_HEADER_LEN];
        match input.read_exact(&mut frame) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            other => other?,
        }
        let len = Frame::peek_len(&frame)?.ok_or("a frame header")?;
        frame.resize(len, 0);
        input.read_exact(&mut frame[FRAME_HEADER_LEN..])?;
        let received = session.receive(&frame);
        while let Some(out) = session.poll_transmit() {
            output.write_all(&out)?;
        }
        output.flush()?;
        if received.is_err() || session.is_finished() || session.is_failed() {
            return Ok(());
        }
    }
}
