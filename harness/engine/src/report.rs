//! Reports: the JSON read by other tools, JUnit for CI systems, and the
//! terminal table.

use crate::check::{Level, Verdict};
use crate::role::EvidenceEntry;
use serde::Serialize;
use std::fmt::Write as _;

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Check id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Requirement IDs covered.
    pub covers: Vec<String>,
    /// MUST or SHOULD.
    pub level: Level,
    /// The requirement, in our words.
    pub requirement: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// Messages exchanged.
    pub evidence: Vec<EvidenceEntry>,
    /// Wall time.
    pub duration_ms: u64,
}

impl CheckResult {
    /// The result of `check`: its declaration, what it concluded, and the
    /// evidence behind it.
    pub fn of(
        check: &crate::check::Check,
        outcome: crate::check::Outcome,
        evidence: Vec<EvidenceEntry>,
        duration_ms: u64,
    ) -> Self {
        Self {
            id: check.id.to_string(),
            title: check.title.to_string(),
            covers: check.covers.iter().map(ToString::to_string).collect(),
            level: check.level,
            requirement: check.requirement.to_string(),
            verdict: outcome.verdict,
            reason: outcome.reason,
            evidence,
            duration_ms,
        }
    }
}

/// Verdict counts.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// A SHOULD not followed (not a failure).
    pub warn: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// Not applicable.
    pub not_applicable: usize,
}

impl Summary {
    /// "N warn, " when a SHOULD was not followed, else nothing: the
    /// summary line keeps its shape for runs without warnings.
    fn warn_part(&self) -> String {
        if self.warn == 0 {
            String::new()
        } else {
            format!("{} warn, ", self.warn)
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The tool and its version.
    pub tool: String,
    /// When the run began (RFC 3339, UTC).
    pub started: String,
    /// The IUT profile used, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// What was tested, e.g. `embedded reference SBE (udp:127.0.0.1:40000)`.
    pub target: String,
    /// Results, in run order.
    pub checks: Vec<CheckResult>,
    /// Counts.
    pub summary: Summary,
    /// Why no check ran: the target could not be reached or did not
    /// answer (exit status 3). A fault of the set-up, never a verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
}

impl Report {
    /// Builds the report and its summary.
    pub fn new(target: String, checks: Vec<CheckResult>) -> Self {
        let mut summary = Summary::default();
        for c in &checks {
            match c.verdict {
                Verdict::Pass => summary.pass += 1,
                Verdict::Fail => summary.fail += 1,
                Verdict::Warn => summary.warn += 1,
                Verdict::Inconclusive => summary.inconclusive += 1,
                Verdict::NotApplicable => summary.not_applicable += 1,
            }
        }
        Self {
            tool: format!("speermint {}", env!("CARGO_PKG_VERSION")),
            started: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            profile: None,
            target,
            checks,
            summary,
            setup_error: None,
        }
    }

    /// A run that stopped before its first check, and why.
    pub fn setup_failed(target: String, why: String) -> Self {
        Self {
            setup_error: Some(why),
            ..Self::new(target, Vec::new())
        }
    }

    /// 0 when every applicable check passed, 1 otherwise. An inconclusive
    /// check is not a pass: a CI gate must not go green on missing evidence.
    pub fn exit_code(&self) -> i32 {
        if self.setup_error.is_some() {
            3
        } else if self.summary.fail == 0 && self.summary.inconclusive == 0 {
            0
        } else {
            1
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The message ladder of every check that failed or was inconclusive,
    /// for a terminal (`certify -v`).
    pub fn ladders(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            if matches!(
                c.verdict,
                Verdict::Fail | Verdict::Warn | Verdict::Inconclusive
            ) {
                let _ = writeln!(
                    out,
                    "\n{} {}: {}",
                    c.verdict.as_str().to_uppercase(),
                    c.id,
                    c.reason
                );
                out.push_str(&evidence_text(c));
            }
        }
        out
    }

    /// A certification report in Markdown: what was tested, a table per
    /// RFC, then every check that did not pass with its message ladder and
    /// the messages themselves.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# speermint certification report\n");
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| Target | {} |", cell(&self.target));
        let _ = writeln!(md, "| Tool | {} |", self.tool);
        let _ = writeln!(md, "| Started | {} |", self.started);
        if let Some(p) = &self.profile {
            let _ = writeln!(md, "| Profile | {} |", cell(p));
        }
        let s = self.summary;
        let _ = writeln!(
            md,
            "| Result | {} pass, {}{} fail, {} inconclusive, {} not applicable |\n",
            s.pass,
            s.warn_part(),
            s.fail,
            s.inconclusive,
            s.not_applicable
        );
        if let Some(e) = &self.setup_error {
            let _ = writeln!(md, "**No check ran: {}**\n", cell(e));
        }
        let mut groups: Vec<(String, Vec<&CheckResult>)> = Vec::new();
        for c in &self.checks {
            let rfc = c
                .covers
                .first()
                .and_then(|r| r.split('-').next())
                .unwrap_or("other")
                .to_string();
            match groups.iter_mut().find(|(g, _)| *g == rfc) {
                Some((_, v)) => v.push(c),
                None => groups.push((rfc, vec![c])),
            }
        }
        for (rfc, checks) in &groups {
            let _ = writeln!(md, "## {rfc}\n");
            let _ = writeln!(
                md,
                "| ID | Level | Requirement | Check | Verdict | Reason |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            for c in checks {
                let _ = writeln!(
                    md,
                    "| {} | {:?} | {} | `{}` | **{}** | {} |",
                    c.covers.join(", "),
                    c.level,
                    cell(&c.requirement),
                    c.id,
                    c.verdict.as_str(),
                    cell(&c.reason)
                );
            }
            md.push('\n');
        }
        let bad: Vec<&CheckResult> = self
            .checks
            .iter()
            .filter(|c| {
                matches!(
                    c.verdict,
                    Verdict::Fail | Verdict::Warn | Verdict::Inconclusive
                )
            })
            .collect();
        if !bad.is_empty() {
            let _ = writeln!(md, "## Checks that did not pass\n");
        }
        for c in bad {
            let _ = writeln!(md, "### `{}`: {}\n", c.id, c.verdict.as_str());
            let _ = writeln!(md, "{}\n", c.reason);
            let _ = writeln!(md, "| t (ms) | role | | peer | message |");
            let _ = writeln!(md, "|---:|---|---|---|---|");
            for e in &c.evidence {
                let arrow = match e.direction {
                    "sent" => "→",
                    "received" => "←",
                    _ => "·",
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {arrow} | {} | {} |",
                    e.t_ms,
                    e.role,
                    e.peer,
                    cell(&e.summary)
                );
            }
            md.push('\n');
            for (i, e) in c.evidence.iter().filter(|e| e.wire.is_some()).enumerate() {
                let _ = writeln!(
                    md,
                    "<details><summary>{}. {} {} {} at {} ms</summary>\n\n```\n{}\n```\n</details>\n",
                    i + 1,
                    e.role,
                    e.direction,
                    cell(&e.summary),
                    e.t_ms,
                    e.message.replace("```", "` ` `").trim_end()
                );
            }
        }
        md
    }

    /// JUnit XML: one test case per check; fail is a failure, inconclusive
    /// an error, not-applicable skipped.
    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
        let mut report = JReport::new("speermint certify");
        // The suite is named after what was tested, without the embedded
        // stack's ephemeral port, so dashboards can follow it across runs.
        let suite_name = if self.target.starts_with("embedded") {
            self.target
                .split(" (")
                .next()
                .unwrap_or(&self.target)
                .to_owned()
        } else {
            self.target.clone()
        };
        let mut suite = TestSuite::new(suite_name);
        for c in &self.checks {
            let status = match c.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                // Not a failure: a success whose output says what was not
                // followed, so dashboards can show it without going red.
                Verdict::Warn => TestCaseStatus::success(),
                Verdict::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(c.reason.clone());
                    s.set_description(evidence_text(c));
                    s
                }
                // Neither is a pass or a failure of the IUT: skipped, with why.
                Verdict::Inconclusive | Verdict::NotApplicable => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("{}: {}", c.verdict.as_str(), c.reason));
                    s
                }
            };
            let mut case = TestCase::new(c.title.clone(), status);
            case.set_classname(c.id.clone());
            case.set_time(std::time::Duration::from_millis(c.duration_ms));
            for r in &c.covers {
                case.add_property(("covers", r.as_str()));
            }
            case.add_property(("level", format!("{:?}", c.level).to_uppercase().as_str()));
            if c.verdict == Verdict::Inconclusive {
                case.set_system_out(evidence_text(c));
            }
            if c.verdict == Verdict::Warn {
                case.add_property(("verdict", "warn"));
                case.set_system_out(format!("warn: {}\n{}", c.reason, evidence_text(c)));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
        report.to_string().unwrap_or_default()
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 5]> = self
            .checks
            .iter()
            .map(|c| {
                [
                    c.verdict.as_str().to_uppercase(),
                    c.id.clone(),
                    covers_cell(&c.covers),
                    format!("{} ms", c.duration_ms),
                    c.reason.clone(),
                ]
            })
            .collect();
        let head = ["VERDICT", "CHECK", "COVERS", "TIME", "REASON"];
        let mut w = head.map(str::len);
        for r in &rows {
            for (i, cell) in r.iter().enumerate().take(4) {
                w[i] = w[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "target: {}\n", self.target);
        let line = |out: &mut String, r: &[String]| {
            let _ = writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            );
        };
        line(&mut out, &head.map(String::from));
        for r in &rows {
            line(&mut out, r);
        }
        let s = self.summary;
        let _ = writeln!(
            out,
            "\n{} {}: {} pass, {}{} fail, {} inconclusive, {} not applicable",
            self.checks.len(),
            if self.checks.len() == 1 {
                "check"
            } else {
                "checks"
            },
            s.pass,
            s.warn_part(),
            s.fail,
            s.inconclusive,
            s.not_applicable
        );
        out
    }
}

/// Requirement IDs for the table; threat rows are counted, not listed
/// (the JSON report lists them all).
fn covers_cell(covers: &[String]) -> String {
    let (threats, main): (Vec<&String>, Vec<&String>) =
        covers.iter().partition(|c| c.starts_with("RFC6404-T-"));
    let mut cell = main
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !threats.is_empty() {
        cell.push_str(&format!(
            " +{} threat row{}",
            threats.len(),
            if threats.len() == 1 { "" } else { "s" }
        ));
    }
    cell
}

fn evidence_text(c: &CheckResult) -> String {
    let mut s = String::new();
    for e in &c.evidence {
        let _ = writeln!(
            s,
            "[{} ms] {} {} {}: {}",
            e.t_ms, e.role, e.direction, e.peer, e.summary
        );
    }
    s
}

/// Text for a Markdown table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, verdict: Verdict) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: id.into(),
            covers: vec!["RFC6271-R7".into()],
            level: Level::Should,
            requirement: "r".into(),
            verdict,
            reason: format!("{id} reason"),
            evidence: Vec::new(),
            duration_ms: 1,
        }
    }

    #[test]
    fn a_warning_is_counted_apart_shown_and_not_a_failure() {
        let r = Report::new(
            "t".into(),
            vec![result("a", Verdict::Pass), result("b", Verdict::Warn)],
        );
        assert_eq!((r.summary.pass, r.summary.warn, r.summary.fail), (1, 1, 0));
        assert_eq!(r.exit_code(), 0);
        assert!(r.table().contains("2 checks: 1 pass, 1 warn, 0 fail"));
        let json = r.to_json();
        assert!(
            json.contains("\"verdict\": \"warn\"") && json.contains("\"warn\": 1"),
            "{json}"
        );
        let xml = r.to_junit();
        assert!(
            xml.contains("failures=\"0\"") && xml.contains("warn: b reason"),
            "{xml}"
        );
        assert!(r.to_markdown().contains("### `b`: warn"));
        // Without warnings the summary line keeps its shape.
        let clean = Report::new("t".into(), vec![result("a", Verdict::Pass)]);
        assert!(clean.table().contains("1 check: 1 pass, 0 fail"));
    }
}
