//! Writes a [`SchemaData`] as JSON with one table entry per line: compact,
//! and a regenerated schema diffs line by line against the committed one.

use anyhow::Result;
use qbwcd::qbxml::schema::SchemaData;
use serde::Serialize;

fn table<T: Serialize>(out: &mut String, key: &str, rows: &[T], last: bool) -> Result<()> {
    out.push_str(&format!("{key:?}:[\n"));
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&serde_json::to_string(row)?);
        out.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    out.push_str(if last { "]\n" } else { "],\n" });
    Ok(())
}

/// The file's text.
pub fn render(s: &SchemaData) -> Result<String> {
    let mut out = String::from("{");
    out.push_str(&format!("\"version\":{},\n", serde_json::to_string(&s.version)?));
    table(&mut out, "simple_types", &s.simple_types, false)?;
    table(&mut out, "complex_types", &s.complex_types, false)?;
    table(&mut out, "elements", &s.elements, false)?;
    table(&mut out, "requests", &s.requests, true)?;
    out.push_str("}\n");
    Ok(out)
}
