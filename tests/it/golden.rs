//! The command line's words held still: help texts, `inspect`'s report of the bundled samples,
//! and error messages, as `tests/cmd/*.toml` record them (trycmd). After a deliberate change,
//! rewrite them with `TRYCMD=overwrite cargo test --features bench --test it golden` and read
//! the diff. The top-level help lists `bench`, so it is checked in the build that has it.

#[test]
fn command_line_output_is_as_recorded() {
    let cases = trycmd::TestCases::new();
    cases.register_bin("blindmap", std::path::PathBuf::from(env!("CARGO_BIN_EXE_blindmap"))).case("tests/cmd/*.toml");
    if cfg!(feature = "bench") {
        cases.case("tests/cmd/bench/*.toml");
    }
}
