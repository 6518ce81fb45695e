//! `qbwcd-schemagen`: compiles Intuit's qbXML XSDs (13.0 and 16.0) into the
//! project's own compact schemas, `src/qbxml/schema/compiled/qbxml-*.json`.
//! A development tool: the server embeds its output and never reads an XSD.
//! The same inputs always give the same bytes (tests/it/schema.rs checks
//! the committed files against a fresh run when the XSDs are at hand).

#![forbid(unsafe_code)]

mod compile;
mod write;
mod xsd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use qbwcd::qbxml::schema::BaseType;
use qbwcd::qbxml::Version;

use compile::{Builder, Defects, Xsd};

/// Compile Intuit's qbXML XSDs into qbwcd's embedded schemas.
#[derive(Debug, Parser)]
#[command(name = "qbwcd-schemagen", version)]
struct Cli {
    /// The directory holding qbxmlops130.xsd, qbxml130.xsd, qbxmltypes130.xsd,
    /// the 16.0 files and quickbooks-sync's qbxml160_modified.xsd.
    #[arg(long, env = "QBWCD_QBXML_XSD_DIR")]
    xsd_dir: PathBuf,
    /// Where to write qbxml-13.0.json and qbxml-16.0.json.
    #[arg(long, default_value = "src/qbxml/schema/compiled")]
    out: PathBuf,
}

fn read(dir: &Path, file: &str) -> Result<xsd::Node> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    xsd::parse(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Every named type of a `qbxmltypes*.xsd` must be one the model knows:
/// a new base type in a later schema is a change to make by hand.
fn check_base_types(types: &xsd::Node, file: &str) -> Result<()> {
    for t in types.kids("simpleType") {
        let name = t.attr("name").unwrap_or_default();
        if BaseType::from_xsd_name(name).is_none() {
            bail!("{file} declares base type {name}, which qbwcd's model does not know");
        }
    }
    Ok(())
}

fn run(cli: &Cli) -> Result<()> {
    let dir = &cli.xsd_dir;
    let v13 = Version::new(13, 0);
    let v16 = Version::new(16, 0);

    let types13 = read(dir, "qbxmltypes130.xsd")?;
    let types16 = read(dir, "qbxmltypes160.xsd")?;
    check_base_types(&types13, "qbxmltypes130.xsd")?;
    check_base_types(&types16, "qbxmltypes160.xsd")?;
    let ops13 = read(dir, "qbxmlops130.xsd")?;
    let main13 = read(dir, "qbxml130.xsd")?;
    let ops16 = read(dir, "qbxmlops160.xsd")?;
    // 16.0 is read from quickbooks-sync's corrected copy: its added
    // enumeration values and deprecations are QuickBooks' real behaviour,
    // and Intuit's own file declares ValueAdjustment's NewValue/ValueDifference
    // choice with maxOccurs="0", which would forbid a valid request.
    let main16 = read(dir, "qbxml160_modified.xsd")?;
    let original16 = read(dir, "qbxml160.xsd")?;
    let defects: Defects = compile::defects(&original16, &main16);

    let xsd13 = Xsd::new(&[&ops13, &main13]);
    let xsd16 = Xsd::new(&[&ops16, &main16]);
    // 13.0's files lack the corrections too; QuickBooks behaves the same
    // whichever version a request is written in.
    let schema13 = Builder::new(&xsd13, v13, Some(&defects)).build(|_| v13).context("compiling 13.0")?;
    let in13: std::collections::HashSet<&str> = schema13.requests.iter().map(|r| r.name.as_str()).collect();
    let schema16 = Builder::new(&xsd16, v16, None)
        .build(|name| if in13.contains(name) { v13 } else { v16 })
        .context("compiling 16.0")?;

    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    for schema in [&schema13, &schema16] {
        let path = cli.out.join(format!("qbxml-{}.json", schema.version));
        std::fs::write(&path, write::render(schema)?).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "{}: {} request types, {} elements, {} content models, {} leaf types",
            path.display(),
            schema.requests.len(),
            schema.elements.len(),
            schema.complex_types.len(),
            schema.simple_types.len()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qbwcd-schemagen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
