//! Generators: character classes of RFC 3261 §25.1 and the hosts, tokens
//! and addresses built from them, drawn from `Unstructured`. The SDP
//! model (`speermint_sdp::fuzzing`) draws from them too.

#[allow(unused_imports)]
use super::*;

/// What a generator returns: a value, or the input ran out.
pub type Gen<T> = arbitrary::Result<T>;

pub(crate) const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub(crate) const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub(crate) const TOKEN_MARKS: &[u8] = b"-.!%*_+`'~";
pub(crate) const WORD_MARKS: &[u8] = b"-.!%*_+`'~()<>:\\\"/[]?{}";
pub(crate) const USER_MARKS: &[u8] = b"-_.!~*'()&=+$,;?/";
pub(crate) const PARAM_MARKS: &[u8] = b"-_.!~*'()[]/:&+$";

/// One character of `ALNUM` plus `marks`.
pub(crate) fn class_char(u: &mut Unstructured<'_>, marks: &[u8]) -> Gen<char> {
    let i = u.choose_index(ALNUM.len() + marks.len())?;
    Ok(char::from(if i < ALNUM.len() {
        ALNUM[i]
    } else {
        marks[i - ALNUM.len()]
    }))
}

/// `min..=max` characters of `ALNUM` plus `marks`.
pub(crate) fn string_of(
    u: &mut Unstructured<'_>,
    marks: &[u8],
    min: usize,
    max: usize,
) -> Gen<String> {
    let n = u.int_in_range(min..=max)?;
    (0..n).map(|_| class_char(u, marks)).collect()
}

/// Public for the SDP model.
pub fn token(u: &mut Unstructured<'_>, min: usize, max: usize) -> Gen<String> {
    string_of(u, TOKEN_MARKS, min, max)
}

/// `1*(class / escaped)`: class characters and `%HH` escapes.
pub(crate) fn escaped(u: &mut Unstructured<'_>, marks: &[u8], max: usize) -> Gen<String> {
    let n = u.int_in_range(1..=max)?;
    let mut s = String::new();
    for _ in 0..n {
        if u.ratio(1u8, 5)? {
            let _ = write!(s, "%{:02X}", u.arbitrary::<u8>()?);
        } else {
            s.push(class_char(u, marks)?);
        }
    }
    Ok(s)
}

pub(crate) fn alpha(u: &mut Unstructured<'_>) -> Gen<char> {
    Ok(char::from(*u.choose(ALPHA)?))
}

/// `alphanum [*(alphanum / "-") alphanum]`, at most 8 characters.
pub(crate) fn label(u: &mut Unstructured<'_>, first: char) -> Gen<String> {
    let mut s = String::from(first);
    if u.arbitrary()? {
        s.push_str(&string_of(u, b"-", 0, 6)?);
        s.push(class_char(u, b"")?);
    }
    Ok(s)
}

/// A hostname: up to three labels, a top label starting with a letter,
/// maybe a trailing dot. Never an IPv4 literal.
/// Public for the SDP model.
pub fn domain(u: &mut Unstructured<'_>) -> Gen<String> {
    let n = u.int_in_range(0..=3)?;
    let mut labels = Vec::with_capacity(n + 1);
    for _ in 0..n {
        let c = class_char(u, b"")?;
        labels.push(label(u, c)?);
    }
    let c = alpha(u)?;
    labels.push(label(u, c)?);
    let mut d = labels.join(".");
    if u.ratio(1u8, 4)? {
        d.push('.');
    }
    Ok(d)
}

/// Public for the SDP model.
pub fn ipv4(u: &mut Unstructured<'_>) -> Gen<Ipv4Addr> {
    Ok(Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?))
}

/// IPv6 addresses with runs of zero groups (so `::` compression shows up),
/// IPv4-mapped ones, and fully random ones.
/// Public for the SDP model.
pub fn ipv6(u: &mut Unstructured<'_>) -> Gen<Ipv6Addr> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => {
            let mut g = [0u16; 8];
            for x in &mut g {
                if u.ratio(1u8, 3)? {
                    *x = u.arbitrary()?;
                }
            }
            Ipv6Addr::from(g)
        }
        1 => ipv4(u)?.to_ipv6_mapped(),
        _ => Ipv6Addr::from(u.arbitrary::<u128>()?),
    })
}

/// Public for the SDP model.
pub fn ip(u: &mut Unstructured<'_>) -> Gen<IpAddr> {
    Ok(if u.arbitrary()? {
        IpAddr::V6(ipv6(u)?)
    } else {
        IpAddr::V4(ipv4(u)?)
    })
}

/// Fisher-Yates with choices from `u`.
pub(crate) fn shuffle<T>(u: &mut Unstructured<'_>, v: &mut [T]) -> Gen<()> {
    for i in (1..v.len()).rev() {
        let j = u.int_in_range(0..=i)?;
        v.swap(i, j);
    }
    Ok(())
}

/// Splits `items` into consecutive non-empty groups (one header line each).
pub(crate) fn group<T>(u: &mut Unstructured<'_>, items: Vec<T>) -> Gen<Vec<Vec<T>>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    for item in items {
        let join = u.arbitrary::<bool>()?;
        match out.last_mut() {
            Some(last) if join => last.push(item),
            _ => out.push(vec![item]),
        }
    }
    Ok(out)
}
