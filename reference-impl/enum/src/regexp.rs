//! The DDDS substitution expression of the NAPTR REGEXP field
//! (RFC 3402 §3.2):
//!
//! ```text
//! subst-expr   = delim-char ere delim-char repl delim-char *flags
//! delim-char   = any character except POS-DIGIT, flags (and '\')
//! repl         = *(string / backref)
//! escapeddelim = "\" delim-char
//! backref      = "\" POS-DIGIT          ; \1 .. \9
//! flags        = "i"                    ; case-insensitive ERE
//! ```
//!
//! The ERE is compiled with the `regex` crate. Its syntax covers what ENUM
//! zones use (RFC 6116 §5.1: anchors, groups, `.*`, escaped `\+`, POSIX
//! classes such as `[[:digit:]]`); the differences, all documented rather
//! than emulated:
//!
//! * matching is leftmost-first, not POSIX leftmost-longest, so captures can
//!   differ for ambiguous alternations; whether a rule matches does not;
//! * inside a bracket expression `\` escapes (POSIX takes it literally), so
//!   `[^\.]` means "not a dot", which is what zone authors intend
//!   (RFC 3403 §6.1 writes exactly that);
//! * Perl classes (`\d`, `\w`) are accepted although ERE leaves them
//!   undefined; pattern back-references (`\1` in the ERE) are rejected, as
//!   ERE has none;
//! * a `{` that does not start a valid interval is an error, not a literal.
//!
//! Output is the expanded `repl` alone: the whole AUS is replaced, as ENUM
//! clients do; with the anchored EREs RFC 6116 §5.1 expects, this equals a
//! sed-style substitution.

use regex::{Regex, RegexBuilder};
use thiserror::Error;

/// Bounds on the work and memory one REGEXP field may cost, so a hostile
/// zone cannot make the LUF slow or large (RFC 6116 §5.2: "MUST be ready
/// to process ... many copies of back-reference patterns ... without
/// failure").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegexLimits {
    /// Longest REGEXP field accepted, in bytes. A DNS character-string holds
    /// at most 255 octets (RFC 1035 §3.3).
    pub max_field_len: usize,
    /// Compiled program and lazy-DFA cache budget, in bytes
    /// (`RegexBuilder::size_limit` / `dfa_size_limit`).
    pub compiled_size: usize,
    /// Longest rewrite output, in bytes.
    pub max_output_len: usize,
}

impl Default for RegexLimits {
    fn default() -> Self {
        Self {
            max_field_len: 255,
            compiled_size: 256 * 1024,
            max_output_len: 1024,
        }
    }
}

/// Why a REGEXP field cannot be used. RFC 6116 §5.2: such a NAPTR is
/// discarded and processing goes on with the next.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RegexpError {
    /// The field is empty.
    #[error("empty regexp field")]
    Empty,
    /// Longer than [`RegexLimits::max_field_len`].
    #[error("regexp field is {len} bytes; limit {limit}")]
    FieldTooLong {
        /// Field length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The first character cannot be a delimiter (a digit, 'i' or '\').
    #[error("{ch:?} cannot be a delimiter")]
    BadDelimiter {
        /// The character.
        ch: char,
    },
    /// Not exactly three unescaped delimiters (RFC 6116 §5.2: discard).
    #[error("{found} unescaped delimiters; exactly 3 required")]
    DelimiterCount {
        /// How many were found.
        found: usize,
    },
    /// Something other than "i" after the last delimiter.
    #[error("unknown regexp flags {flags:?}")]
    BadFlags {
        /// The trailing text.
        flags: String,
    },
    /// A backslash ends the field.
    #[error("dangling backslash")]
    DanglingEscape,
    /// The ERE does not compile.
    #[error("bad ERE: {reason}")]
    Compile {
        /// The compiler's message.
        reason: String,
    },
    /// The ERE compiles to more than [`RegexLimits::compiled_size`].
    #[error("ERE too large to compile within the limit")]
    TooLarge,
    /// `\0` or a `\N` with no N-th group in the ERE.
    #[error("back-reference \\{index} but the ERE has {groups} groups")]
    Backref {
        /// The referenced group.
        index: usize,
        /// Groups the ERE has.
        groups: usize,
    },
    /// The output would exceed [`RegexLimits::max_output_len`].
    #[error("rewrite output exceeds {limit} bytes")]
    OutputTooLong {
        /// The limit.
        limit: usize,
    },
}

/// A parsed and compiled substitution expression.
#[derive(Debug, Clone)]
pub struct SubstExpr {
    delimiter: char,
    regex: Regex,
    repl: Vec<ReplPart>,
    case_insensitive: bool,
    max_output_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReplPart {
    Lit(String),
    Group(usize),
}

/// A character of a field, remembering whether it was backslash-escaped.
#[derive(Debug, Clone, Copy)]
enum Piece {
    Plain(char),
    Escaped(char),
}

impl SubstExpr {
    /// Parses and compiles `field` under `limits`.
    pub fn parse(field: &str, limits: &RegexLimits) -> Result<Self, RegexpError> {
        if field.len() > limits.max_field_len {
            return Err(RegexpError::FieldTooLong {
                len: field.len(),
                limit: limits.max_field_len,
            });
        }
        let mut chars = field.chars();
        let delim = chars.next().ok_or(RegexpError::Empty)?;
        if delim.is_ascii_digit() || matches!(delim, 'i' | 'I' | '\\') {
            return Err(RegexpError::BadDelimiter { ch: delim });
        }
        // Split on unescaped delimiters. A backslash always pairs with the
        // next character, so `\\` followed by a delimiter ends the field.
        let mut fields: Vec<Vec<Piece>> = vec![Vec::new()];
        let mut flags = String::new();
        let mut delims = 1usize;
        while let Some(c) = chars.next() {
            if delims >= 3 {
                flags.push(c);
                if c == delim {
                    delims += 1;
                }
                continue;
            }
            let piece = if c == '\\' {
                Piece::Escaped(chars.next().ok_or(RegexpError::DanglingEscape)?)
            } else if c == delim {
                delims += 1;
                fields.push(Vec::new());
                continue;
            } else {
                Piece::Plain(c)
            };
            if let Some(f) = fields.last_mut() {
                f.push(piece);
            }
        }
        if delims != 3 {
            return Err(RegexpError::DelimiterCount { found: delims });
        }
        let case_insensitive = match flags.as_str() {
            "" => false,
            "i" | "I" => true,
            _ => return Err(RegexpError::BadFlags { flags }),
        };
        let (ere_pieces, repl_pieces) = match fields.as_slice() {
            [ere, repl, _] => (ere, repl),
            _ => return Err(RegexpError::DelimiterCount { found: delims }),
        };

        let mut ere = String::new();
        for p in ere_pieces {
            match *p {
                Piece::Plain(c) => ere.push(c),
                Piece::Escaped(c) if c == delim => {
                    ere.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])))
                }
                Piece::Escaped(c) => {
                    ere.push('\\');
                    ere.push(c);
                }
            }
        }
        let regex = compiled(&ere, case_insensitive, limits.compiled_size)?;
        let groups = regex.captures_len().saturating_sub(1);

        let mut repl = Vec::new();
        let mut lit = String::new();
        for p in repl_pieces {
            match *p {
                Piece::Plain(c) => lit.push(c),
                Piece::Escaped(c @ '0'..='9') => {
                    let index = usize::from(c as u8 - b'0');
                    if index == 0 || index > groups {
                        return Err(RegexpError::Backref { index, groups });
                    }
                    if !lit.is_empty() {
                        repl.push(ReplPart::Lit(std::mem::take(&mut lit)));
                    }
                    repl.push(ReplPart::Group(index));
                }
                // `\<delim>` is the escaped delimiter, `\\` a backslash;
                // any other escape stands for the character itself.
                Piece::Escaped(c) => lit.push(c),
            }
        }
        if !lit.is_empty() {
            repl.push(ReplPart::Lit(lit));
        }
        Ok(Self {
            delimiter: delim,
            regex,
            repl,
            case_insensitive,
            max_output_len: limits.max_output_len,
        })
    }

    /// The delimiter character.
    pub fn delimiter(&self) -> char {
        self.delimiter
    }

    /// The ERE as handed to the regex compiler.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// Whether the `i` flag was present.
    pub fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// Applies the expression to `input` (the AUS). `Ok(None)`: the ERE does
    /// not match, so the rule does not apply. Unmatched groups expand to
    /// the empty string (RFC 3402 §3.2: "possibly empty").
    pub fn apply(&self, input: &str) -> Result<Option<String>, RegexpError> {
        let Some(caps) = self.regex.captures(input) else {
            return Ok(None);
        };
        let mut out = String::new();
        for part in &self.repl {
            let s = match part {
                ReplPart::Lit(s) => s.as_str(),
                ReplPart::Group(i) => caps.get(*i).map_or("", |m| m.as_str()),
            };
            if out.len() + s.len() > self.max_output_len {
                return Err(RegexpError::OutputTooLong {
                    limit: self.max_output_len,
                });
            }
            out.push_str(s);
        }
        Ok(Some(out))
    }
}

/// Compiled EREs, per thread. Compiling is most of a warm ENUM lookup's
/// cost (the bench measured about 25 of 27 µs), and a zone has few
/// distinct REGEXP fields. Bounded: a zone with many distinct fields
/// empties it rather than growing it.
const COMPILED_CACHE: usize = 64;

type CacheKey = (String, bool, usize);

thread_local! {
    static COMPILED: std::cell::RefCell<std::collections::HashMap<CacheKey, Regex>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn compiled(ere: &str, case_insensitive: bool, size: usize) -> Result<Regex, RegexpError> {
    let key = (ere.to_owned(), case_insensitive, size);
    if let Some(r) = COMPILED.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(r);
    }
    let regex = RegexBuilder::new(ere)
        .case_insensitive(case_insensitive)
        .size_limit(size)
        .dfa_size_limit(size)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => RegexpError::TooLarge,
            other => RegexpError::Compile {
                reason: other.to_string(),
            },
        })?;
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= COMPILED_CACHE {
            c.clear();
        }
        c.insert(key, regex.clone());
    });
    Ok(regex)
}

/// Parses `field` and applies it to `input` in one step.
pub fn rewrite(
    field: &str,
    input: &str,
    limits: &RegexLimits,
) -> Result<Option<String>, RegexpError> {
    SubstExpr::parse(field, limits)?.apply(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(field: &str, input: &str) -> Result<Option<String>, RegexpError> {
        rewrite(field, input, &RegexLimits::default())
    }

    #[test]
    fn basic_and_backrefs() {
        assert_eq!(
            rw("!^.*$!sip:info@example.com!", "+1").unwrap().as_deref(),
            Some("sip:info@example.com")
        );
        assert_eq!(
            rw(r"!^\+(\d\d)(.*)$!sip:\2@cc\1.example!", "+441632960083")
                .unwrap()
                .as_deref(),
            Some("sip:1632960083@cc44.example")
        );
        assert_eq!(rw(r"!^\+1.*$!sip:x@y!", "+44").unwrap(), None);
    }

    #[test]
    fn delimiters_and_escapes() {
        assert_eq!(
            rw("/^.*$/sip:a@b/", "+1").unwrap().as_deref(),
            Some("sip:a@b")
        );
        assert_eq!(
            rw("#^.*$#sip:a@b#", "+1").unwrap().as_deref(),
            Some("sip:a@b")
        );
        // Escaped delimiter in the repl and in the ERE.
        assert_eq!(
            rw(r"!^\+1(\!?)$!sip:hi\!@x!", "+1").unwrap().as_deref(),
            Some("sip:hi!@x")
        );
        assert_eq!(
            rw(r"/^\+(.*)\/?$/sip:\1@a\/b/", "+12").unwrap().as_deref(),
            Some("sip:12@a/b")
        );
        // A regex metacharacter as delimiter: `\.` is a literal dot.
        assert_eq!(
            rw(r".^\+1\.?$.sip:x@y.", "+1").unwrap().as_deref(),
            Some("sip:x@y")
        );
        // Escaped backslash, then the delimiter.
        assert_eq!(
            rw(r"!^.*$!sip:a\\!", "+1").unwrap().as_deref(),
            Some(r"sip:a\")
        );
    }

    #[test]
    fn case_flag() {
        assert_eq!(rw("!^ABC$!x:y!", "abc").unwrap(), None);
        assert_eq!(rw("!^ABC$!x:y!i", "abc").unwrap().as_deref(), Some("x:y"));
        assert_eq!(rw("!^ABC$!x:y!I", "abc").unwrap().as_deref(), Some("x:y"));
        // The flag does not touch static repl text (RFC 6116 §3.6).
        assert_eq!(
            rw("!^.*$!Sip:Bob@X!i", "+1").unwrap().as_deref(),
            Some("Sip:Bob@X")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(rw("", "+1"), Err(RegexpError::Empty));
        assert_eq!(
            rw("1^.*$1x1", "+1"),
            Err(RegexpError::BadDelimiter { ch: '1' })
        );
        assert_eq!(
            rw("i^.*$ixi", "+1"),
            Err(RegexpError::BadDelimiter { ch: 'i' })
        );
        assert_eq!(
            rw(r"\^.*$\x\", "+1"),
            Err(RegexpError::BadDelimiter { ch: '\\' })
        );
        assert_eq!(
            rw("!^.*$!x", "+1"),
            Err(RegexpError::DelimiterCount { found: 2 })
        );
        assert_eq!(
            rw("!^.*$!x!y!", "+1"),
            Err(RegexpError::DelimiterCount { found: 4 })
        );
        assert_eq!(
            rw("!^.*$!x!!", "+1"),
            Err(RegexpError::DelimiterCount { found: 4 })
        );
        assert_eq!(
            rw("!^.*$!x!g", "+1"),
            Err(RegexpError::BadFlags { flags: "g".into() })
        );
        assert_eq!(rw("!^.*$!x\\", "+1"), Err(RegexpError::DanglingEscape));
        assert!(matches!(
            rw("!^(.*$!x!", "+1"),
            Err(RegexpError::Compile { .. })
        ));
        assert!(matches!(
            rw(r"!^(.)\1$!x!", "+1"),
            Err(RegexpError::Compile { .. })
        ));
        assert_eq!(
            rw(r"!^(.*)$!x\2!", "+1"),
            Err(RegexpError::Backref {
                index: 2,
                groups: 1
            })
        );
        assert_eq!(
            rw(r"!^(.*)$!x\0!", "+1"),
            Err(RegexpError::Backref {
                index: 0,
                groups: 1
            })
        );
        let long = format!("!^.*$!{}!", "a".repeat(300));
        assert!(matches!(
            rw(&long, "+1"),
            Err(RegexpError::FieldTooLong { .. })
        ));
    }

    #[test]
    fn bounded() {
        let tiny = RegexLimits {
            compiled_size: 1024,
            ..RegexLimits::default()
        };
        assert_eq!(
            rewrite(r"!^\w{50}\w{50}$!x!", "+1", &tiny),
            Err(RegexpError::TooLarge)
        );
        let many = format!("!^(.*)$!{}!", r"\1".repeat(100));
        let input = "+".repeat(20);
        assert_eq!(
            rw(&many, &input),
            Err(RegexpError::OutputTooLong { limit: 1024 })
        );
        // POSIX classes are supported.
        assert_eq!(
            rw(r"!^\+([[:digit:]]+)$!tel:\1!", "+12")
                .unwrap()
                .as_deref(),
            Some("tel:12")
        );
    }
}
