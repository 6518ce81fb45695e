//! Leaf values: the checks a request's text must pass for its simple type,
//! and the characters QuickBooks cannot store.

use std::borrow::Cow;

use crate::qbxml::schema::{BaseType, SimpleType};

/// A leaf value that its type refuses: the issue code and what to change.
pub type ValueProblem = (&'static str, String);

/// Checks `text` against `ty`.
///
/// # Errors
/// The issue code (`too_long`, `bad_enum`, `bad_integer`, …) and a message.
pub fn check(ty: &SimpleType, text: &str) -> Result<(), ValueProblem> {
    if let Some(max) = ty.max_length {
        // A character is at least one byte: only a longer text is counted.
        if text.len() > max as usize {
            let n = text.chars().count();
            if n > max as usize {
                return Err(("too_long", format!("at most {max} characters; got {n}")));
            }
        }
    }
    if !ty.enumeration.is_empty() && !ty.enumeration.iter().any(|e| e == text) {
        return Err(("bad_enum", format!("must be one of {}; got {:?}", list(&ty.enumeration), clip(text))));
    }
    let t = trimmed(text);
    let ok = match ty.base {
        BaseType::String | BaseType::Id | BaseType::Enum | BaseType::Uuid | BaseType::Macro => true,
        BaseType::Amount => t.is_empty() || decimal(t, 13, 2),
        BaseType::Price | BaseType::Quantity | BaseType::Percent => t.is_empty() || decimal(t, 10, 5),
        BaseType::Float => t.is_empty() || decimal(t, 30, 30),
        BaseType::Integer => {
            return match t.parse::<i64>() {
                Ok(v) if ty.min_inclusive.is_some_and(|m| v < m) || ty.max_inclusive.is_some_and(|m| v > m) => {
                    Err(("bad_integer", format!("must be within {}; got {v}", range(ty))))
                }
                Ok(_) => Ok(()),
                Err(_) => Err(("bad_integer", format!("must be a whole number; got {:?}", clip(text)))),
            }
        }
        BaseType::Boolean => matches!(t, "" | "true" | "false" | "1" | "0"),
        BaseType::Date => t.is_empty() || chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok() && t.len() == 10,
        BaseType::DateTime => t.is_empty() || datetime(t),
        BaseType::TimeInterval => t.is_empty() || interval(t),
        BaseType::Guid => guid(t),
    };
    if ok {
        return Ok(());
    }
    let (code, want) = match ty.base {
        BaseType::Amount => ("bad_decimal", "an amount: up to 13 digits and 2 decimals, e.g. 1234.50"),
        BaseType::Price | BaseType::Quantity | BaseType::Percent => {
            ("bad_decimal", "a number of up to 10 digits and 5 decimals, e.g. 12.5")
        }
        BaseType::Float => ("bad_decimal", "a decimal number"),
        BaseType::Boolean => ("bad_boolean", "true or false"),
        BaseType::Date => ("bad_date", "a date YYYY-MM-DD"),
        BaseType::DateTime => ("bad_datetime", "a date-time YYYY-MM-DDThh:mm:ss with an optional offset (+hh:mm)"),
        BaseType::TimeInterval => ("bad_time_interval", "a time interval such as PT1H30M0S"),
        _ => ("bad_guid", "a GUID {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx} or 0"),
    };
    Err((code, format!("must be {} ({}); got {:?}", want, ty.base.xsd_name(), clip(text))))
}

/// `[+-]?d{1,int}(.d{1,frac})?`
fn decimal(t: &str, int: usize, frac: usize) -> bool {
    let b = t.as_bytes();
    let b = b.strip_prefix(b"+").or_else(|| b.strip_prefix(b"-")).unwrap_or(b);
    let i = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if i == 0 || i > int {
        return false;
    }
    match &b[i..] {
        [] => true,
        [b'.', f @ ..] => !f.is_empty() && f.len() <= frac && f.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// `text` without the whitespace around it. Most values have none: when
/// both ends are printable ASCII, the Unicode-aware trim is skipped.
fn trimmed(text: &str) -> &str {
    let plain = |b: &u8| (b'!'..=b'~').contains(b);
    match text.as_bytes() {
        [] => text,
        [first, .., last] | [first @ last] if plain(first) && plain(last) => text,
        _ => text.trim(),
    }
}

/// The qbXML date-time pattern: a date, then optionally `Thh`, `:mm`, `:ss`
/// and an offset `±hh:mm`, each only after the one before.
fn datetime(t: &str) -> bool {
    let (date, rest) = t.split_once('T').map_or((t, None), |(d, r)| (d, Some(r)));
    let mut parts = date.split('-');
    let ok_date = matches!((parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(y), Some(m), Some(d), None) if num(y, 4, 4) && num(m, 1, 2) && num(d, 1, 2));
    let Some(rest) = rest else { return ok_date };
    let (time, offset) = match rest.find(['+', '-']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let fields: Vec<&str> = time.split(':').collect();
    let ok_time = !fields.is_empty() && fields.len() <= 3 && fields.iter().all(|f| num(f, 1, 2));
    let ok_offset = offset
        .is_none_or(|o| fields.len() == 3 && matches!(o.split_once(':'), Some((h, m)) if num(h, 1, 2) && num(m, 1, 2)));
    ok_date && ok_time && ok_offset
}

fn num(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `[+-]?PT(nH)?(nM)?(nS)?`
fn interval(t: &str) -> bool {
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let Some(mut rest) = t.strip_prefix("PT") else { return false };
    for unit in ['H', 'M', 'S'] {
        if let Some(i) = rest.find(unit) {
            if !num(&rest[..i], 1, 20) {
                return false;
            }
            rest = &rest[i + 1..];
        }
    }
    rest.is_empty()
}

/// `0` or `{8-4-4-4-12}` hex digits.
fn guid(t: &str) -> bool {
    if t == "0" {
        return true;
    }
    let Some(inner) = t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else { return false };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn range(ty: &SimpleType) -> String {
    let show = |v: Option<i64>| v.map_or_else(|| "…".to_owned(), |v| v.to_string());
    format!("{}–{}", show(ty.min_inclusive), show(ty.max_inclusive))
}

/// An enumeration for a message: every value when few, else the first 20.
fn list(values: &[String]) -> String {
    let shown: Vec<&str> = values.iter().take(20).map(String::as_str).collect();
    let more = values.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} (and {more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// A value quoted in a message: at most 60 characters of it.
fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    s
}

/// The first character of `text` that QuickBooks cannot store: it keeps
/// text in Windows-1252, so anything outside it (emoji, most non-Latin
/// scripts, C1 controls) is replaced when saved.
pub fn unstorable(text: &str) -> Option<char> {
    text.chars().find(|&c| !in_cp1252(c))
}

fn in_cp1252(c: char) -> bool {
    const EXTRA: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";
    let u = c as u32;
    (u < 0x80) || (0xA0..=0xFF).contains(&u) || EXTRA.contains(c)
}

/// Normalizes a request value written from JSON: an amount gets two
/// decimals (QuickBooks' own form); anything else is kept.
pub fn normalize(base: BaseType, text: Cow<'_, str>) -> Cow<'_, str> {
    if base != BaseType::Amount {
        return text;
    }
    let t = trimmed(&text);
    if !decimal(t, 13, 2) {
        return text;
    }
    // Decimals after the point, if there is one.
    match t.bytes().position(|b| b == b'.').map(|p| t.len() - p - 1) {
        None => Cow::Owned(format!("{t}.00")),
        Some(1) => Cow::Owned(format!("{t}0")),
        _ if t.len() == text.len() => text,
        _ => Cow::Owned(t.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(base: BaseType) -> SimpleType {
        SimpleType::of(base)
    }

    #[test]
    fn typed_values_are_checked_per_base_type() {
        assert!(check(&ty(BaseType::Amount), "1234.50").is_ok());
        assert!(check(&ty(BaseType::Amount), "-1").is_ok());
        assert_eq!(check(&ty(BaseType::Amount), "1.234").unwrap_err().0, "bad_decimal");
        assert_eq!(check(&ty(BaseType::Amount), "12,5").unwrap_err().0, "bad_decimal");
        assert!(check(&ty(BaseType::Quantity), "2.12345").is_ok());
        assert_eq!(check(&ty(BaseType::Integer), "1.5").unwrap_err().0, "bad_integer");
        assert!(check(&ty(BaseType::Boolean), "true").is_ok());
        assert_eq!(check(&ty(BaseType::Boolean), "yes").unwrap_err().0, "bad_boolean");
        assert!(check(&ty(BaseType::Date), "2024-02-29").is_ok());
        assert_eq!(check(&ty(BaseType::Date), "2023-02-29").unwrap_err().0, "bad_date");
        assert!(check(&ty(BaseType::DateTime), "2024-01-31T10:00:00-05:00").is_ok());
        assert!(check(&ty(BaseType::DateTime), "2024-01-31").is_ok());
        assert_eq!(check(&ty(BaseType::DateTime), "31/01/2024").unwrap_err().0, "bad_datetime");
        assert!(check(&ty(BaseType::TimeInterval), "PT1H30M0S").is_ok());
        assert!(check(&ty(BaseType::Guid), "{0FBB0C1D-2C4B-4B43-9A1E-0123456789AB}").is_ok());
        assert_eq!(check(&ty(BaseType::Guid), "abc").unwrap_err().0, "bad_guid");
    }

    #[test]
    fn decimals_take_one_sign_one_point_and_bounded_digits() {
        for ok in ["0", "+1", "-1.5", "1234567890123", "1.25", " 7.25 ", "\u{a0}7.25\t"] {
            assert!(check(&ty(BaseType::Amount), ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "+", "-", ".5", "1.", "1.2.3", "+-1", "12345678901234", "1.234", "1e3", "١", "7 .25"] {
            let t = trimmed(bad);
            assert!(!decimal(t, 13, 2), "{bad:?}");
        }
        assert_eq!(trimmed(" a "), "a");
        assert_eq!(trimmed("a"), "a");
        assert_eq!(trimmed("\u{2003}a\u{2003}"), "a");
    }

    #[test]
    fn lengths_count_characters_and_enums_name_their_values() {
        let mut name = ty(BaseType::String);
        name.max_length = Some(41);
        let long = "é".repeat(57);
        assert_eq!(check(&name, &long).unwrap_err(), ("too_long", "at most 41 characters; got 57".to_owned()));
        let mut e = ty(BaseType::Enum);
        e.enumeration = vec!["Start".into(), "Continue".into(), "Stop".into()];
        assert_eq!(check(&e, "start").unwrap_err().1, "must be one of Start, Continue, Stop; got \"start\"");
    }

    #[test]
    fn amounts_from_json_get_two_decimals_and_cp1252_is_storable() {
        assert_eq!(normalize(BaseType::Amount, "12.5".into()), "12.50");
        assert_eq!(normalize(BaseType::Amount, "7".into()), "7.00");
        assert_eq!(normalize(BaseType::Amount, " 7.25".into()), "7.25");
        assert_eq!(normalize(BaseType::Price, "7".into()), "7");
        assert_eq!(unstorable("Café – “ok” €"), None);
        assert_eq!(unstorable("hi 😀"), Some('😀'));
    }
}
