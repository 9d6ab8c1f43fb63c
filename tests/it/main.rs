//! The command line's integration tests, one binary: the `blindmap` executable run as a user would.

// `blindmap accounts ecosystem|partners` against served nodes
mod accounts_cli;
mod cli;
mod corrections_cli;
mod deploy;
// CLI golden tests: help texts, inspect output, error messages (tests/cmd/)
mod golden;
