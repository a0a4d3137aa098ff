//! From a byte offset in a TOML string's value to the byte offset in the file
//! where it is written, so template errors point into the file.
//!
//! Exact for literal strings (`'…'`, `'''…'''`) and for basic strings
//! (`"…"`, `"""…"""`) with or without escapes: the raw text is walked and
//! every escape counted for the bytes it stands for.

use std::ops::Range;

/// The file offset of byte `offset` of the value of the string written at
/// `token` (quotes included) in `source`. Offsets past the end of the value
/// land on the closing quotes; anything odd (a token that is not a string)
/// lands on the token's start.
pub(crate) fn file_offset(source: &str, token: &Range<usize>, offset: usize) -> usize {
    let Some(raw) = source.get(token.clone()) else {
        return token.start;
    };
    let (quote, basic) = if raw.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if raw.starts_with("'''") {
        ("'''", false)
    } else if raw.starts_with('"') {
        ("\"", true)
    } else if raw.starts_with('\'') {
        ("'", false)
    } else {
        return token.start;
    };
    let mut at = quote.len();
    if quote.len() == 3 {
        // A newline right after the opening quotes is not part of the value.
        if raw[at..].starts_with("\r\n") {
            at += 2;
        } else if raw[at..].starts_with('\n') {
            at += 1;
        }
    }
    let end = raw.len().saturating_sub(quote.len()).max(at);
    let mut decoded = 0;
    while decoded < offset && at < end {
        let rest = &raw[at..end];
        let Some(c) = rest.chars().next() else { break };
        if basic && c == '\\' {
            let (raw_len, value_len) = escape(rest);
            at += raw_len;
            decoded += value_len;
        } else if c == '\r' && rest.starts_with("\r\n") {
            // The value may hold "\n" for "\r\n"; count the pair as written.
            at += 2;
            decoded += 2;
        } else {
            at += c.len_utf8();
            decoded += c.len_utf8();
        }
    }
    // A line-ending backslash stands for nothing: land after it.
    while basic && at < end && raw[at..end].starts_with('\\') {
        let (raw_len, value_len) = escape(&raw[at..end]);
        if value_len != 0 {
            break;
        }
        at += raw_len;
    }
    token.start + at
}

/// The escape at the start of `rest` (which starts with `\`): how many bytes
/// it is written with and how many bytes of the value it stands for.
fn escape(rest: &str) -> (usize, usize) {
    let mut chars = rest.chars().skip(1);
    let Some(kind) = chars.next() else {
        return (1, 1);
    };
    let hex = |digits: usize| {
        let code = rest
            .get(2..2 + digits)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .map_or(1, char::len_utf8);
        (2 + digits, code)
    };
    match kind {
        'x' => hex(2),
        'u' => hex(4),
        'U' => hex(8),
        ' ' | '\t' | '\r' | '\n' => {
            // A line-ending backslash: it and the whitespace after it vanish.
            let blank = rest[1..]
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len() - 1);
            (1 + blank, 0)
        }
        other => (1 + other.len_utf8(), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that the value's byte `offset` is the file's byte at `marker`
    /// (the first `@` of the file).
    fn check(file: &str, offset: usize) {
        let start = file.find(['"', '\'']).unwrap();
        let token = start..file.len();
        let want = file.find('@').unwrap();
        assert_eq!(
            file_offset(file, &token, offset),
            want,
            "{file:?} at {offset}"
        );
    }

    #[test]
    fn literal_strings_map_byte_for_byte() {
        check("x = 'ab@c'", 2);
        check("x = '''\nab\nc@d'''", 4);
        check("x = '''\r\nab@'''", 2);
        check("x = '''ab@'''", 2);
    }

    #[test]
    fn basic_strings_count_escapes() {
        check("x = \"ab@\"", 2);
        check("x = \"\\t\\\"b@\"", 3);
        check("x = \"\\u00e9@\"", 2);
        check("x = \"\\U0001F600@\"", 4);
        check("x = \"\\x41@\"", 1);
        check("x = \"\"\"\nab \\\n    @c\"\"\"", 3);
        check("x = \"é@\"", 2);
    }

    #[test]
    fn odd_offsets_stay_in_the_token() {
        let file = "x = \"ab\"";
        assert_eq!(file_offset(file, &(4..8), 99), 7);
        assert_eq!(file_offset(file, &(4..5), 1), 5);
        assert_eq!(file_offset(file, &(0..1), 1), 0);
        assert_eq!(file_offset(file, &(40..50), 1), 40);
        assert_eq!(file_offset("x = \"\\", &(4..6), 1), 5);
    }
}
