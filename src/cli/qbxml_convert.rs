//! `qbwcd qbxml validate | to-json | to-xml`, and the JSON side of
//! `qbwcd enqueue --json`: the API's checks and conversions, offline.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::qbxml::convert::{
    answer_to_json, check_qbxml, json_to_qbxml, qbxml_warnings, requests_of, requests_to_json, SchemaInvalid,
};
use crate::qbxml::{OnError, Schema, Version};

/// The schema named by `--version` (the newest not above it), else the newest.
///
/// # Errors
/// When the version is not `major.minor`.
fn schema_for(version: Option<&str>) -> anyhow::Result<(&'static Schema, Option<Version>)> {
    let v = version.map(|v| Version::parse(v).map_err(|e| anyhow::anyhow!("--version: {e}"))).transpose()?;
    Ok((Schema::for_version(v), v))
}

/// Every problem, one per line, as the error of a command.
pub fn invalid_error(invalid: &SchemaInvalid) -> anyhow::Error {
    let mut text = format!("{} problem(s) against qbXML {}:", invalid.issues.len(), invalid.version);
    for i in &invalid.issues {
        text.push_str(&format!("\n  {}: {} ({})", i.path, i.message, i.code));
    }
    anyhow::anyhow!(text)
}

fn read(file: Option<&Path>) -> anyhow::Result<String> {
    super::commands::read_input(file)
}

fn parse_json(text: &str, file: Option<&Path>) -> anyhow::Result<serde_json::Value> {
    let name = file.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    serde_json::from_str(text).with_context(|| format!("{name} is not JSON"))
}

/// JSON requests in `path` (- for stdin) as qbXML, checked against the
/// schema for `reported` when `validate`.
///
/// # Errors
/// When the file cannot be read, is not JSON, or its requests are refused
/// (every problem listed).
pub fn json_file_to_qbxml(
    path: &Path,
    reported: Option<Version>,
    on_error: Option<&str>,
    validate: bool,
) -> anyhow::Result<String> {
    let text = read(Some(path))?;
    let value = parse_json(&text, Some(path))?;
    let on_error = on_error.map(OnError::parse).transpose().map_err(|e| anyhow::anyhow!("--on-error: {e}"))?;
    json_to_qbxml(Schema::for_version(reported), reported, &requests_of(&value), on_error.unwrap_or_default(), validate)
        .map_err(|e| invalid_error(&e))
}

/// `qbwcd qbxml validate FILE [--version V]`: prints every problem, one per
/// line, and fails (exit 1) when there is one.
///
/// # Errors
/// When the file cannot be read or printing fails.
pub fn validate(file: Option<&PathBuf>, version: Option<&str>) -> anyhow::Result<()> {
    let (schema, reported) = schema_for(version)?;
    let text = read(file.map(PathBuf::as_path))?;
    let sub = crate::qbxml::parse_submission(&text).map_err(|e| anyhow::anyhow!("not acceptable qbXML: {e}"))?;
    for w in qbxml_warnings(&sub.body) {
        crate::outln!("warning: {}: {} ({})", w.path, w.message, w.code)?;
    }
    match check_qbxml(schema, reported, &sub.body) {
        Ok(()) => {
            crate::outln!("valid against qbXML {} ({} request(s))", schema.version(), sub.request_names.len())?;
            Ok(())
        }
        Err(invalid) => {
            for i in &invalid.issues {
                crate::outln!("{}: {} ({})", i.path, i.message, i.code)?;
            }
            anyhow::bail!("{} problem(s) against qbXML {}", invalid.issues.len(), invalid.version)
        }
    }
}

/// `qbwcd qbxml to-json FILE`: requests as the JSON `requests` takes, an
/// answer as a job's `result`.
///
/// # Errors
/// When the file cannot be read or is not well-formed XML.
pub fn to_json(file: Option<&PathBuf>, version: Option<&str>) -> anyhow::Result<()> {
    let (schema, _) = schema_for(version)?;
    let text = read(file.map(PathBuf::as_path))?;
    let is_answer = text.contains("QBXMLMsgsRs") || !text.contains("Rq");
    let json = if is_answer { answer_to_json(schema, &[&text]) } else { requests_to_json(schema, &text) }
        .map_err(|e| anyhow::anyhow!("not well-formed qbXML: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&json).context("converted JSON")?;
    crate::outln!("{}", serde_json::to_string_pretty(&value)?)?;
    Ok(())
}

/// `qbwcd qbxml to-xml FILE`: JSON requests as the qbXML qbwcd would queue.
///
/// # Errors
/// When the file cannot be read, is not JSON, or its requests are refused.
pub fn to_xml(file: Option<&PathBuf>, version: Option<&str>, validate: bool) -> anyhow::Result<()> {
    let (schema, reported) = schema_for(version)?;
    let text = read(file.map(PathBuf::as_path))?;
    let value = parse_json(&text, file.map(PathBuf::as_path))?;
    let xml = json_to_qbxml(schema, reported, &requests_of(&value), OnError::default(), validate)
        .map_err(|e| invalid_error(&e))?;
    crate::outln!("{xml}")?;
    Ok(())
}
