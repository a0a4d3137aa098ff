//! Checks of JSON text seglab stores as it came (`properties`, `context`,
//! `traits`): serde_json only checks its syntax on the way in, so text that
//! nothing could read back must be refused here.

/// What a raw object can hide from serde_json's skimming, which checks its
/// syntax but neither decodes its strings nor counts its depth.
#[derive(Debug, PartialEq)]
pub(crate) enum RawFault {
    /// Nested deeper than the limit.
    TooDeep,
    /// A `\u` escape of half a surrogate pair: the text would be stored, and
    /// nothing could parse it back.
    LoneSurrogate,
    /// A number beyond `f64` (`1e400`): the same.
    NumberOutOfRange,
}

/// Checks well-formed JSON text: nesting no deeper than `max` (brackets in
/// strings skipped), every surrogate escape one half of a pair, and every
/// number within `f64`.
pub(crate) fn check_raw(text: &str, max: usize) -> Result<(), RawFault> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(b, i + 1)?,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(RawFault::TooDeep);
                }
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let len = b[i..]
                    .iter()
                    .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .unwrap_or(b.len() - i);
                let number = &text[i..i + len];
                // Only an exponent or some 300 digits can leave f64's range;
                // serde_json decides, as it will when the payload is read.
                let may_overflow = len > 300 || number.contains(['e', 'E']);
                if may_overflow && serde_json::from_str::<serde_json::Number>(number).is_err() {
                    return Err(RawFault::NumberOutOfRange);
                }
                i += len;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Where the string whose contents start at `i` ends (after its quote).
fn string_end(b: &[u8], mut i: usize) -> Result<usize, RawFault> {
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' if b.get(i + 1) == Some(&b'u') => match hex4(b, i + 2) {
                Some(0xD800..=0xDBFF) => {
                    let low = b.get(i + 6..i + 8) == Some(b"\\u".as_slice())
                        && matches!(hex4(b, i + 8), Some(0xDC00..=0xDFFF));
                    if !low {
                        return Err(RawFault::LoneSurrogate);
                    }
                    i += 12;
                }
                Some(0xDC00..=0xDFFF) => return Err(RawFault::LoneSurrogate),
                _ => i += 6,
            },
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(i)
}

/// The four hex digits at `at`, as a UTF-16 code unit.
fn hex4(b: &[u8], at: usize) -> Option<u16> {
    let digits = b.get(at..at + 4)?;
    digits.iter().try_fold(0u16, |n, &d| {
        let v = char::from(d).to_digit(16)?;
        Some((n << 4) | v as u16)
    })
}
