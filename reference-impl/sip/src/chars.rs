//! Byte classes from the RFC 3261 §25.1 ABNF, as 256-entry lookup tables:
//! one load per byte keeps the hot loops of the parser branch-light.

const fn class(extra: &[u8], alnum: bool) -> [bool; 256] {
    let mut t = [false; 256];
    if alnum {
        let mut c = b'0';
        while c <= b'9' {
            t[c as usize] = true;
            c += 1;
        }
        let mut c = b'a';
        while c <= b'z' {
            t[c as usize] = true;
            t[(c - 32) as usize] = true;
            c += 1;
        }
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// `token` (RFC 3261 §25.1).
pub(crate) const TOKEN: [bool; 256] = class(b"-.!%*_+`'~", true);
/// `word` (RFC 3261 §25.1): token plus separators allowed in Call-ID.
pub(crate) const WORD: [bool; 256] = class(b"-.!%*_+`'~()<>:\\\"/[]?{}", true);
/// Characters of a domain label: alphanumerics and `-` (RFC 3261 §25.1).
pub(crate) const HOST_CHAR: [bool; 256] = class(b"-", true);
/// `user` characters: unreserved / user-unreserved (escapes handled apart).
pub(crate) const USER: [bool; 256] = class(b"-_.!~*'()&=+$,;?/", true);
/// `password` characters.
pub(crate) const PASSWORD: [bool; 256] = class(b"-_.!~*'()&=+$,", true);
/// `paramchar`: param-unreserved / unreserved.
pub(crate) const PARAM: [bool; 256] = class(b"-_.!~*'()[]/:&+$", true);
/// `hname`/`hvalue` characters: hnv-unreserved / unreserved.
pub(crate) const HNV: [bool; 256] = class(b"-_.!~*'()[]/?:+$", true);
/// `uric` (RFC 2396) without `%`: reserved / unreserved, for absoluteURI.
pub(crate) const URIC: [bool; 256] = class(b"-_.!~*'();/?:@&=+$,", true);
/// Characters of a generic parameter value outside quotes: token, plus the
/// `host` forms (IPv6 references, and bare IPv6 in `received`, RFC 5118 §4.5).
pub(crate) const GEN_VALUE: [bool; 256] = class(b"-.!%*_+`'~:[]", true);

/// Bit flags of [`CLASS`]: every class a byte belongs to, so a scanner
/// that must tell several grammars apart (user part or host? parameter
/// name or value?) pays one table load per byte and tests bits, instead of
/// one pass (and one table) per grammar.
pub(crate) mod cls {
    /// `token`.
    pub(crate) const TOKEN: u16 = 1;
    /// `user` characters (unreserved / user-unreserved).
    pub(crate) const USER: u16 = 1 << 1;
    /// `paramchar` (param-unreserved / unreserved).
    pub(crate) const PARAM: u16 = 1 << 2;
    /// `hostname` characters: alphanumerics, `-`, `.`.
    pub(crate) const HOST: u16 = 1 << 3;
    /// `DIGIT`.
    pub(crate) const DIGIT: u16 = 1 << 4;
    /// `.`.
    pub(crate) const DOT: u16 = 1 << 5;
    /// `HEXDIG`.
    pub(crate) const HEX: u16 = 1 << 6;
    /// `ALPHA`.
    pub(crate) const ALPHA: u16 = 1 << 7;
    /// `-`.
    pub(crate) const DASH: u16 = 1 << 8;
    /// Linear white space bytes: SP, HT, CR, LF.
    pub(crate) const WS: u16 = 1 << 9;
    /// A generic parameter value outside quotes ([`super::GEN_VALUE`]).
    pub(crate) const GEN_VALUE: u16 = 1 << 10;
    /// Bytes a `quoted-string` holds as they are: all but `"`, `\` and
    /// the control characters other than HT, CR and LF (folded LWS).
    pub(crate) const QDTEXT: u16 = 1 << 11;
}

const fn build_class() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut f = 0;
        if TOKEN[i] {
            f |= cls::TOKEN;
        }
        if USER[i] {
            f |= cls::USER;
        }
        if PARAM[i] {
            f |= cls::PARAM;
        }
        if HOST_CHAR[i] || c == b'.' {
            f |= cls::HOST;
        }
        if c.is_ascii_digit() {
            f |= cls::DIGIT;
        }
        if c == b'.' {
            f |= cls::DOT;
        }
        if c.is_ascii_hexdigit() {
            f |= cls::HEX;
        }
        if c.is_ascii_alphabetic() {
            f |= cls::ALPHA;
        }
        if c == b'-' {
            f |= cls::DASH;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            f |= cls::WS;
        }
        if GEN_VALUE[i] {
            f |= cls::GEN_VALUE;
        }
        if !matches!(c, 0..=8 | 0x0b | 0x0c | 0x0e..=0x1f | 0x7f | b'"' | b'\\') {
            f |= cls::QDTEXT;
        }
        t[i] = f;
        i += 1;
    }
    t
}

/// Every class of every byte, as [`cls`] flags.
pub(crate) static CLASS: [u16; 256] = build_class();

/// The [`cls`] flags of `b`.
#[inline(always)]
pub(crate) fn class_of(b: u8) -> u16 {
    CLASS[b as usize]
}

/// True when `s[i..]` starts with a `%HH` escape.
#[inline]
pub(crate) fn escape_at(s: &[u8], i: usize) -> bool {
    matches!((s.get(i + 1), s.get(i + 2)), (Some(&h), Some(&l))
        if class_of(h) & class_of(l) & cls::HEX != 0)
}

/// The end of the run of bytes of class `flag` or `%HH` escapes that
/// starts at `i`: `1*( class / escaped )` validated while it is delimited.
#[inline]
pub(crate) fn scan_escaped(b: &[u8], mut i: usize, flag: u16) -> usize {
    while let Some(&c) = b.get(i) {
        if class_of(c) & flag != 0 {
            i += 1;
        } else if c == b'%' && escape_at(b, i) {
            i += 3;
        } else {
            break;
        }
    }
    i
}

/// `name.eq_ignore_ascii_case(canon)` for a `canon` of letters and `-`,
/// eight bytes at a time: the header-name classifier runs on every line,
/// parameter names and schemes on every value. (`:` and digits in `canon`
/// compare exactly.)
#[inline]
pub(crate) fn eq_fold(name: &[u8], canon: &[u8]) -> bool {
    if name.len() != canon.len() {
        return false;
    }
    // 0x20 where `canon` holds a letter (bit 0x40 set; not in '-'), so
    // that only letters fold.
    let same = |n: u64, c: u64| {
        let fold = ((c & 0x4040_4040_4040_4040) >> 1) & 0x2020_2020_2020_2020;
        n | fold == c | fold
    };
    let len = name.len();
    if len < 8 {
        // Two overlapping windows of 4 (or 2, or 1) bytes cover the name.
        let w = match len {
            4.. => 4,
            2.. => 2,
            _ => 1,
        };
        // Whole-word loads (not a byte loop): with `canon` a constant, its
        // side folds away once inlined.
        let load = |b: &[u8], at: usize| -> u64 {
            match w {
                4 => u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default()).into(),
                2 => u16::from_le_bytes(b[at..at + 2].try_into().unwrap_or_default()).into(),
                _ => b[at].into(),
            }
        };
        return same(load(name, 0), load(canon, 0))
            && same(load(name, len - w), load(canon, len - w));
    }
    let word = |b: &[u8], at: usize| {
        let w: [u8; 8] = b[at..at + 8].try_into().unwrap_or_default();
        u64::from_le_bytes(w)
    };
    // Overlapping 8-byte windows; the last one ends at `len`.
    let mut at = 0;
    loop {
        let at8 = at.min(len - 8);
        if !same(word(name, at8), word(canon, at8)) {
            return false;
        }
        if at8 == len - 8 {
            return true;
        }
        at += 8;
    }
}

/// The first `c` in `b`. Written by hand rather than calling `memchr`
/// for short slices: the URI parts and parameters searched here are mostly
/// under 32 bytes, where `memchr`'s dispatch costs more than the scan.
#[inline]
pub(crate) fn find(b: &[u8], c: u8) -> Option<usize> {
    if b.len() >= 32 {
        return memchr::memchr(c, b);
    }
    b.iter().position(|&x| x == c)
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline]
pub(crate) fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Checks `s` is `1*(class / escaped)`; returns the offset of the first bad byte.
pub(crate) fn check_escaped(s: &[u8], table: &[bool; 256]) -> Result<(), usize> {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if table[b as usize] {
            i += 1;
        } else if b == b'%' {
            match (s.get(i + 1), s.get(i + 2)) {
                (Some(&h), Some(&l)) if is_hex(h) && is_hex(l) => i += 3,
                _ => return Err(i),
            }
        } else {
            return Err(i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_abnf() {
        assert!(TOKEN[b'%' as usize] && !TOKEN[b'"' as usize] && !TOKEN[b',' as usize]);
        assert!(!WORD[b'@' as usize] && WORD[b'<' as usize]);
        assert!(
            b"-_.!~*'()"
                .iter()
                .all(|&c| USER[c as usize] && PARAM[c as usize])
        );
        assert!(!USER[b'@' as usize] && !PARAM[b';' as usize] && !HNV[b'&' as usize]);
    }

    #[test]
    fn class_flags_match_the_tables() {
        for c in 0..=255u8 {
            let f = class_of(c);
            assert_eq!(f & cls::TOKEN != 0, TOKEN[c as usize]);
            assert_eq!(f & cls::USER != 0, USER[c as usize]);
            assert_eq!(f & cls::PARAM != 0, PARAM[c as usize]);
            assert_eq!(f & cls::GEN_VALUE != 0, GEN_VALUE[c as usize]);
            assert_eq!(f & cls::WS != 0, is_ws(c));
            assert_eq!(f & cls::HEX != 0, is_hex(c));
        }
    }

    #[test]
    fn escapes_need_two_hex_digits() {
        assert_eq!(check_escaped(b"a%20b", &USER), Ok(()));
        assert_eq!(check_escaped(b"a%2", &USER), Err(1));
        assert_eq!(check_escaped(b"a%zz", &USER), Err(1));
        assert_eq!(check_escaped(b"a@b", &USER), Err(1));
    }
}
