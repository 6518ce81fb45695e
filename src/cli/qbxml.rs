//! `qbwcd qbxml …`: the compiled qbXML schemas, read without a server or a
//! database (the same answers as `GET /api/v1/qbxml/types[/{name}]`).

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::Subcommand;

use super::output::TextTable;
use crate::qbxml::schema::{catalog, describe, Schema};
use crate::qbxml::Version;

/// `qbxml …`
#[derive(Debug, Subcommand)]
pub enum QbxmlCommand {
    /// List the request types (CustomerAddRq, …) with the qbXML version that introduced each.
    Types {
        /// The qbXML version a company's QuickBooks reported: list what its schema has (the newest
        /// compiled schema not above it: 14.0 and 15.0 read 13.0). Default: the newest, 16.0.
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// JSON output (the body of GET /api/v1/qbxml/types).
        #[arg(long)]
        json: bool,
    },
    /// Print a request type's field tree like Intuit's On-Screen Reference: order, required or
    /// optional, repeatable, OR groups ("one of" … "or"), maximum lengths, enum values, types.
    Describe {
        /// The request type, e.g. CustomerAddRq (the Rq may be left off).
        name: String,
        /// The qbXML version to read it in (as for `qbxml types`). Default: 16.0.
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// Describe the response (CustomerAddRs) instead of the request.
        #[arg(long)]
        response: bool,
        /// Print the JSON Schema of the request and its response instead (the body of
        /// GET /api/v1/qbxml/types/{name}).
        #[arg(long)]
        json: bool,
    },
    /// Check qbXML requests against the schema as enqueue does: every problem with its path
    /// (CustomerAddRq/CustomerAdd/Name: at most 41 characters; got 57), then exit 1 if any.
    Validate {
        /// A whole qbXML document or bare …Rq elements; - or nothing reads stdin.
        file: Option<PathBuf>,
        /// The qbXML version a company's QuickBooks reported (as for `qbxml types`). Default: 16.0.
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
    },
    /// Convert qbXML to JSON: requests as enqueue's `requests` takes them, an answer
    /// (QBXMLMsgsRs) as a job's `result` shows it.
    ToJson {
        /// The qbXML; - or nothing reads stdin.
        file: Option<PathBuf>,
        /// The qbXML version to read it in. Default: 16.0.
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
    },
    /// Convert JSON requests ({"requests": […]}, {"request": {…}}, an array, or one request)
    /// to the qbXML enqueue would queue, in schema order, checked as enqueue checks them.
    ToXml {
        /// The JSON; - or nothing reads stdin.
        file: Option<PathBuf>,
        /// The qbXML version to write for (as for `qbxml types`). Default: 16.0.
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// Skip the schema checks of the values (as `"validate": false`).
        #[arg(long)]
        no_validate: bool,
    },
}

/// Runs a `qbxml` command.
pub fn run(cmd: QbxmlCommand) -> anyhow::Result<()> {
    match cmd {
        QbxmlCommand::Types { version, json } => types(version.as_deref(), json),
        QbxmlCommand::Describe { name, version, response, json } => {
            describe_type(&name, version.as_deref(), response, json)
        }
        QbxmlCommand::Validate { file, version } => super::qbxml_convert::validate(file.as_ref(), version.as_deref()),
        QbxmlCommand::ToJson { file, version } => super::qbxml_convert::to_json(file.as_ref(), version.as_deref()),
        QbxmlCommand::ToXml { file, version, no_validate } => {
            super::qbxml_convert::to_xml(file.as_ref(), version.as_deref(), !no_validate)
        }
    }
}

fn schema_for(version: Option<&str>) -> anyhow::Result<&'static Schema> {
    let reported = version.map(Version::parse).transpose().context("--version")?;
    Ok(Schema::for_version(reported))
}

fn types(version: Option<&str>, json: bool) -> anyhow::Result<()> {
    let schema = schema_for(version)?;
    if json {
        return super::output::json(&catalog::types(schema));
    }
    let mut t = TextTable::new(&["REQUEST TYPE", "SINCE", "RESPONSE"]);
    for r in schema.requests() {
        let rs = r.response.map(|id| schema.element(id).name.clone()).unwrap_or_default();
        t.row(vec![r.name.clone(), r.since.to_string(), rs]);
    }
    t.print("")?;
    crate::outln!("{} request types in the qbXML {} schema", schema.requests().len(), schema.version())
}

fn describe_type(name: &str, version: Option<&str>, response: bool, json: bool) -> anyhow::Result<()> {
    let schema = schema_for(version)?;
    let rt = catalog::find(schema, name).map_err(|e| anyhow!(e))?;
    if json {
        return super::output::json(&catalog::type_schema(schema, rt));
    }
    let root = if response {
        rt.response.ok_or_else(|| anyhow!("the qbXML {} schema has no response for {}", schema.version(), rt.name))?
    } else {
        rt.request
    };
    crate::outln!("{} (qbXML {} schema; since {})", schema.element(root).name, schema.version(), rt.since)?;
    let mut t = TextTable::new(&["FIELD", "USE", "TYPE"]);
    for row in describe::describe(schema, root) {
        t.row(vec![format!("{}{}", "  ".repeat(row.depth), row.field), row.usage, row.ty]);
    }
    t.print("")
}
