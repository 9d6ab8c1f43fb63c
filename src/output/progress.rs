//! A progress bar on stderr for long sessions (hidden when stderr is not a terminal).

use blindmap_psi::wire::Frame;
use blindmap_psi::{Direction, Observer};
use indicatif::{ProgressBar, ProgressStyle};

/// Counts records as the receiving side finishes evaluating them, and passes every event on.
pub(crate) struct Progress<O> {
    bar: ProgressBar,
    inner: O,
}

impl<O: Observer> Progress<O> {
    /// `records`: the records both sides will send, for the bar's length.
    pub(crate) fn new(records: u64, inner: O) -> Self {
        let bar = ProgressBar::new(records);
        bar.set_style(
            ProgressStyle::with_template("{spinner} matching {bar:32} {human_pos}/{human_len} records, {eta} left")
                .expect("valid template"),
        );
        Self { bar, inner }
    }

    pub(crate) fn finish(self) -> O {
        self.bar.finish_and_clear();
        self.inner
    }
}

impl<O: Observer> Observer for Progress<O> {
    fn produced(&mut self, direction: Direction, frame: &[u8]) {
        self.inner.produced(direction, frame);
    }

    fn consumed(&mut self, direction: Direction, frame: &[u8]) {
        self.inner.consumed(direction, frame);
        if let Some(n) = Frame::peek_elements_records(frame) {
            self.bar.inc(u64::from(n));
        }
    }
}
