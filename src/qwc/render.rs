//! The template and its renderer.
//!
//! Templates are XML with named placeholders like `{{app_url}}`. Values are
//! XML-escaped before substitution, so placeholders belong in element text or
//! attribute values (not in comments or CDATA). A placeholder the renderer
//! does not know is an error rather than left in place, and the placeholders
//! that keep users apart must be present.
//!
//! Line endings: the output uses CRLF throughout. The file is opened on
//! Windows (the Web Connector, and admins reading it in Notepad), where CRLF
//! is native; normalising also keeps the bytes identical however the template
//! was checked out (git may turn LF into CRLF on Windows).

use std::borrow::Cow;
use std::path::Path;

use super::{checks, QwcError, QwcSettings, QwcUser, Result};

/// The built-in template, `qwc-templates/default.qwc`.
pub const DEFAULT_TEMPLATE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/qwc-templates/default.qwc"));

/// The file a `template_dir` must hold.
pub const TEMPLATE_FILE: &str = "default.qwc";

/// Every placeholder a template may use.
pub const PLACEHOLDERS: [&str; 16] = [
    "app_name",
    "app_unique_name",
    "app_url",
    "app_description",
    "app_support",
    "user_name",
    "owner_id",
    "file_id",
    "scheduler_element",
    "scheduler_interval",
    "is_read_only",
    "personal_data_pref",
    "unattended_mode_pref",
    "auth_flags",
    "company_name",
    "company_slug",
];

/// Placeholders a template must use: without them a user's file would point
/// nowhere or collide with another user's in QuickBooks.
const REQUIRED: [&str; 7] =
    ["app_name", "app_unique_name", "app_url", "app_support", "user_name", "owner_id", "file_id"];

/// Renders the user's `.qwc` with the configured template.
///
/// # Errors
/// Any refusal from [`super::checks`] (URL, support host, description,
/// preferences, schedule, user values), or a template that cannot be read,
/// names an unknown placeholder or lacks a required one.
pub fn render(settings: &QwcSettings, deployment: &super::Deployment<'_>, user: &QwcUser) -> Result<String> {
    // Check the values first: a bad URL is the likelier mistake, and its
    // message is the more useful one.
    let values = values(settings, deployment, user)?;
    let template = load_template(settings)?;
    substitute(&template, &template_origin(settings), &values)
}

/// Renders with a template already in hand (e.g. loaded once at start).
///
/// # Errors
/// As [`render`], except for reading the template.
pub fn render_with_template(
    template: &str,
    settings: &QwcSettings,
    deployment: &super::Deployment<'_>,
    user: &QwcUser,
) -> Result<String> {
    let values = values(settings, deployment, user)?;
    substitute(template, &template_origin(settings), &values)
}

/// The template: `<template_dir>/default.qwc` if configured, else the
/// built-in one. A UTF-8 byte-order mark (Windows editors add one) is
/// dropped so the output still starts with `<?xml`.
///
/// # Errors
/// [`QwcError::TemplateRead`] when the file is missing or not UTF-8.
pub fn load_template(settings: &QwcSettings) -> Result<Cow<'static, str>> {
    match &settings.template_dir {
        None => Ok(Cow::Borrowed(DEFAULT_TEMPLATE)),
        Some(dir) => {
            let path = dir.join(TEMPLATE_FILE);
            let text = std::fs::read_to_string(&path).map_err(|source| QwcError::TemplateRead { path, source })?;
            Ok(Cow::Owned(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text)))
        }
    }
}

/// Escapes the five XML special characters, so a value is safe in element
/// text and in either kind of quoted attribute.
pub fn xml_escape(value: &str) -> Cow<'_, str> {
    if !value.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn template_origin(settings: &QwcSettings) -> String {
    match &settings.template_dir {
        Some(dir) => Path::new(dir).join(TEMPLATE_FILE).display().to_string(),
        None => "(built-in)".to_owned(),
    }
}

/// Every placeholder's value, checked and already escaped.
fn values(
    settings: &QwcSettings,
    deployment: &super::Deployment<'_>,
    user: &QwcUser,
) -> Result<Vec<(&'static str, String)>> {
    checks::check_settings(settings)?;
    checks::check_user(user)?;
    let public = checks::check_deployment(deployment)?;
    let app_url = checks::app_url(&public);
    let app_support = checks::app_support(settings, &public)?;
    let schedule = super::schedule(settings, user)?;
    let raw: [(&'static str, String); 16] = [
        ("app_name", super::app_name(settings, user)),
        ("app_unique_name", super::app_unique_name(settings, user)),
        ("app_url", app_url),
        ("app_description", checks::description(settings)?.to_owned()),
        ("app_support", app_support),
        ("user_name", user.username.clone()),
        ("owner_id", super::guid_braced(&user.owner_id)),
        ("file_id", super::guid_braced(&user.file_id)),
        ("scheduler_element", schedule.element().to_owned()),
        ("scheduler_interval", schedule.interval().to_string()),
        ("is_read_only", settings.is_read_only.to_string()),
        ("personal_data_pref", settings.personal_data_pref.clone()),
        ("unattended_mode_pref", settings.unattended_mode_pref.clone()),
        ("auth_flags", checks::auth_flags(settings)?),
        ("company_name", user.company_name.trim().to_owned()),
        ("company_slug", user.company_slug.clone()),
    ];
    Ok(raw.into_iter().map(|(k, v)| (k, xml_escape(&v).into_owned())).collect())
}

/// Replaces each `{{name}}` with its (escaped) value and normalises line
/// endings to CRLF.
fn substitute(template: &str, origin: &str, values: &[(&'static str, String)]) -> Result<String> {
    let syntax = |offset, reason| QwcError::TemplateSyntax { template: origin.to_owned(), offset, reason };
    let mut out = String::with_capacity(template.len() + 512);
    let mut used: Vec<&str> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let offset = template.len() - rest.len() + start;
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| syntax(offset, "no closing \"}}\""))?;
        let name = after[..end].trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(syntax(offset, "a name is lower-case letters and \"_\""));
        }
        let (key, value) = values.iter().find(|(k, _)| *k == name).ok_or_else(|| QwcError::UnknownPlaceholder {
            template: origin.to_owned(),
            name: name.to_owned(),
            known: PLACEHOLDERS.join(", "),
        })?;
        out.push_str(value);
        used.push(key);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if let Some(name) = REQUIRED.iter().find(|r| !used.contains(r)) {
        return Err(QwcError::MissingPlaceholder { template: origin.to_owned(), name });
    }
    Ok(out.replace("\r\n", "\n").replace('\r', "\n").replace('\n', "\r\n"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::user;
    use super::super::{Deployment, QwcUser};
    use super::*;
    use quick_xml::events::Event;

    const PUBLIC: Deployment<'static> = Deployment { public_url: "https://qb.example.com", public: true };

    /// Parses `xml` (panicking if it is not well-formed) into
    /// (element path, text) pairs for every leaf element.
    fn leaves(xml: &str) -> Vec<(String, String)> {
        let mut reader = quick_xml::Reader::from_str(xml);
        reader.config_mut().trim_text(true);
        let (mut path, mut out, mut text) = (Vec::<String>::new(), Vec::new(), String::new());
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    path.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                    text.clear();
                }
                Event::Text(t) => text.push_str(&t.unescape().expect("valid escapes")),
                Event::End(_) => {
                    out.push((path.join("/"), std::mem::take(&mut text)));
                    path.pop();
                }
                Event::Empty(_) | Event::DocType(_) | Event::CData(_) => panic!("unexpected node"),
                Event::Eof => break,
                _ => {}
            }
        }
        out.retain(|(p, _)| !["QBWCXML", "QBWCXML/Scheduler"].contains(&p.as_str()));
        out
    }

    fn value<'a>(leaves: &'a [(String, String)], name: &str) -> &'a str {
        let path = format!("QBWCXML/{name}");
        let hits: Vec<_> = leaves.iter().filter(|(p, _)| *p == path).collect();
        assert_eq!(hits.len(), 1, "exactly one {name}");
        &hits[0].1
    }

    fn render_ok(settings: &QwcSettings, user: &QwcUser) -> String {
        render(settings, &PUBLIC, user).expect("renders")
    }

    #[test]
    fn rendered_file_has_every_element_with_the_expected_value() {
        // Arrange
        let alice = user("alice");
        // Act
        let xml = render_ok(&QwcSettings::default(), &alice);
        let leaves = leaves(&xml);
        // Assert
        let expected = [
            ("AppName", "qbwcd \u{2013} Acme Ltd (alice)".to_owned()),
            ("AppID", String::new()),
            ("AppURL", "https://qb.example.com/qbwc".to_owned()),
            ("AppDescription", "qbwcd QuickBooks connector".to_owned()),
            ("AppSupport", "https://qb.example.com/qbwc/support".to_owned()),
            ("UserName", "alice".to_owned()),
            ("OwnerID", guid_braced(&alice.owner_id)),
            ("FileID", "{ABCDEF01-2345-6789-ABCD-EF0123456789}".to_owned()),
            ("QBType", "QBFS".to_owned()),
            ("Scheduler/RunEveryNMinutes", "15".to_owned()),
            ("IsReadOnly", "false".to_owned()),
            ("PersonalDataPref", "pdpNotNeeded".to_owned()),
            ("UnattendedModePref", "umpOptional".to_owned()),
            ("AuthFlags", "0x0".to_owned()),
            ("Notify", "false".to_owned()),
            ("Style", "Document".to_owned()),
            ("AppUniqueName", "qbwcd.acme.alice".to_owned()),
        ];
        for (name, want) in &expected {
            assert_eq!(value(&leaves, name), want, "{name}");
        }
        assert_eq!(leaves.len(), expected.len(), "no other elements: {leaves:?}");
    }

    fn guid_braced(id: &uuid::Uuid) -> String {
        super::super::guid_braced(id)
    }

    #[test]
    fn output_starts_with_the_declaration_and_uses_crlf_only() {
        let xml = render_ok(&QwcSettings::default(), &user("alice"));
        assert!(xml.starts_with("<?xml version=\"1.0\"?>\r\n<QBWCXML>\r\n"));
        assert!(xml.ends_with("</QBWCXML>\r\n"));
        assert_eq!(xml.matches('\n').count(), xml.matches("\r\n").count());
    }

    #[test]
    fn two_users_of_one_company_differ_in_identity_and_share_the_file_id() {
        let s = QwcSettings::default();
        let (a, b) = (leaves(&render_ok(&s, &user("alice"))), leaves(&render_ok(&s, &user("bob"))));
        for distinct in ["OwnerID", "AppName", "AppUniqueName", "UserName"] {
            assert_ne!(value(&a, distinct), value(&b, distinct), "{distinct}");
        }
        for shared in ["FileID", "AppURL", "AppSupport"] {
            assert_eq!(value(&a, shared), value(&b, shared), "{shared}");
        }
    }

    #[test]
    fn rendering_twice_gives_identical_bytes() {
        let s = QwcSettings::default();
        assert_eq!(render_ok(&s, &user("alice")).into_bytes(), render_ok(&s, &user("alice")).into_bytes());
    }

    #[test]
    fn hostile_names_are_escaped_and_the_file_stays_well_formed() {
        // Arrange
        let mut u = user("o'brien & <co> \"x\"");
        u.company_name = "Müller & Söhne <GmbH>".to_owned();
        let s = QwcSettings { app_description: "Sync \"orders\" & <invoices>".into(), ..QwcSettings::default() };
        // Act
        let xml = render_ok(&s, &u);
        // Assert: the raw text has no stray markup, and parsing gives the values back.
        assert!(xml.contains("Müller &amp; Söhne &lt;GmbH&gt;"));
        assert!(xml.contains("o&apos;brien &amp; &lt;co&gt; &quot;x&quot;"));
        let leaves = leaves(&xml);
        assert_eq!(value(&leaves, "AppName"), "qbwcd \u{2013} Müller & Söhne <GmbH> (o'brien & <co> \"x\")");
        assert_eq!(value(&leaves, "UserName"), "o'brien & <co> \"x\"");
        assert_eq!(value(&leaves, "AppDescription"), "Sync \"orders\" & <invoices>");
        assert_eq!(value(&leaves, "AppUniqueName"), "qbwcd.acme.o'brien & <co> \"x\"");
    }

    #[test]
    fn per_user_seconds_schedule_renders_run_every_n_seconds() {
        let mut u = user("alice");
        u.run_every_seconds = Some(30);
        let leaves = leaves(&render_ok(&QwcSettings::default(), &u));
        assert_eq!(value(&leaves, "Scheduler/RunEveryNSeconds"), "30");
        assert!(leaves.iter().all(|(p, _)| !p.ends_with("RunEveryNMinutes")));
    }

    #[test]
    fn each_refusal_reaches_the_caller_of_render() {
        let base = QwcSettings::default();
        let with_url = |url: &'static str, public| render(&base, &Deployment { public_url: url, public }, &user("a"));
        let cases: Vec<(&str, Result<String>)> = vec![
            ("http off localhost", with_url("http://qb.example.com", false)),
            ("IPv4", with_url("https://192.168.1.10", false)),
            ("IPv6", with_url("https://[2001:db8::1]", false)),
            ("localhost when public", with_url("http://localhost:8080", true)),
            (
                "support on another host",
                render(
                    &QwcSettings { support_url: Some("https://help.example.org/".into()), ..base.clone() },
                    &PUBLIC,
                    &user("a"),
                ),
            ),
            (
                "empty description",
                render(&QwcSettings { app_description: String::new(), ..base.clone() }, &PUBLIC, &user("a")),
            ),
            (
                "81-char description",
                render(&QwcSettings { app_description: "d".repeat(81), ..base.clone() }, &PUBLIC, &user("a")),
            ),
            (
                "bad personal_data_pref",
                render(&QwcSettings { personal_data_pref: "pdpAlways".into(), ..base.clone() }, &PUBLIC, &user("a")),
            ),
            ("nil owner id", render(&base, &PUBLIC, &QwcUser { owner_id: uuid::Uuid::nil(), ..user("a") })),
            ("empty user name", render(&base, &PUBLIC, &user(""))),
        ];
        for (case, result) in cases {
            let err = result.expect_err(case);
            // Every message says what to do, not only what is wrong.
            let msg = err.to_string();
            assert!(msg.contains(". ") && msg.len() > 50, "{case}: {msg}");
        }
        assert!(with_url("http://localhost:8080", false).is_ok(), "localhost is fine for local testing");
    }

    fn scratch_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("qbwcd-qwc-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_template_directory_overrides_the_built_in_template() {
        // Arrange: a BOM and LF endings, as an operator's editor might leave them.
        let dir = scratch_dir("override");
        let custom =
            "\u{feff}<?xml version=\"1.0\"?>\n<QBWCXML><AppName>{{app_name}}</AppName><AppURL>{{ app_url }}</AppURL>\
            <AppSupport>{{app_support}}</AppSupport><UserName>{{user_name}}</UserName><OwnerID>{{owner_id}}</OwnerID>\
            <FileID>{{file_id}}</FileID><AppUniqueName>{{app_unique_name}}</AppUniqueName>\
            <AppDescription>{{company_name}} custom</AppDescription></QBWCXML>\n";
        std::fs::write(dir.join(TEMPLATE_FILE), custom).unwrap();
        let s = QwcSettings { template_dir: Some(dir.clone()), ..QwcSettings::default() };
        // Act
        let xml = render_ok(&s, &user("alice"));
        std::fs::remove_dir_all(&dir).unwrap();
        // Assert
        assert!(xml.starts_with("<?xml version=\"1.0\"?>\r\n<QBWCXML>"));
        assert_eq!(value(&leaves(&xml), "AppDescription"), "Acme Ltd custom");
        assert_eq!(value(&leaves(&xml), "AppURL"), "https://qb.example.com/qbwc");
    }

    #[test]
    fn a_missing_template_file_is_refused_with_its_path() {
        let dir = scratch_dir("missing");
        let s = QwcSettings { template_dir: Some(dir.clone()), ..QwcSettings::default() };
        let err = render(&s, &PUBLIC, &user("alice")).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(err, QwcError::TemplateRead { .. }));
        assert!(err.to_string().contains("default.qwc"));
    }

    #[test]
    fn an_unknown_placeholder_in_a_template_is_refused() {
        let t = DEFAULT_TEMPLATE.replace("<AppID></AppID>", "<AppID>{{app_id}}</AppID>");
        let err = render_with_template(&t, &QwcSettings::default(), &PUBLIC, &user("a")).unwrap_err();
        assert!(matches!(&err, QwcError::UnknownPlaceholder { name, .. } if name == "app_id"));
        assert!(err.to_string().contains("{{app_id}}"), "{err}");
    }

    #[test]
    fn a_template_without_a_required_placeholder_is_refused() {
        let t = DEFAULT_TEMPLATE.replace("{{owner_id}}", "{00000000-0000-0000-0000-000000000001}");
        let err = render_with_template(&t, &QwcSettings::default(), &PUBLIC, &user("a")).unwrap_err();
        assert!(matches!(err, QwcError::MissingPlaceholder { name: "owner_id", .. }));
    }

    #[test]
    fn a_malformed_placeholder_is_refused() {
        for t in ["<A>{{app_name</A>", "<A>{{App-Name}}</A>", "<A>{{}}</A>"] {
            let err = render_with_template(t, &QwcSettings::default(), &PUBLIC, &user("a")).unwrap_err();
            assert!(matches!(err, QwcError::TemplateSyntax { offset: 3, .. }), "{t}: {err}");
        }
    }

    #[test]
    fn every_listed_placeholder_has_a_value() {
        let all: String = PLACEHOLDERS.iter().map(|p| format!("{{{{{p}}}}}")).collect();
        assert!(render_with_template(&all, &QwcSettings::default(), &PUBLIC, &user("a")).is_ok());
    }

    #[test]
    fn xml_escape_handles_all_five_specials() {
        assert_eq!(xml_escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
        assert!(matches!(xml_escape("plain"), Cow::Borrowed("plain")));
    }
}
