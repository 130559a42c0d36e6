//! Where a zone-syntax file (a zone, or a trust anchor file) is wrong.

/// A zone file that could not be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ZoneError {
    /// The file, or a label for zones given as text.
    pub file: String,
    /// 1-based line of the fault, when it is on one line.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl ZoneError {
    pub(crate) fn render(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{}: {}", self.file, l, self.reason),
            None => format!("{}: {}", self.file, self.reason),
        }
    }
}
