//! The `AppSupport` page (`GET /qbwc/support`) and the same setup guide as
//! Markdown for the README.
//!
//! One source text, `GUIDE` (returned by [`setup_guide_markdown`]), is
//! written in a small Markdown subset (`##`/`###` headings, paragraphs, `- `
//! lists, `**bold**`, `` `code` ``) and converted here, so the page and the
//! README cannot drift apart. The Web Connector also requires the
//! `AppSupport` URL to answer 200 when an application is added
//! (QBWC1003/QBWC1004), which this page does.

use super::QwcSettings;

/// The setup guide. Steps are in the order an admin must do them.
const GUIDE: &str = r#"## Set up the QuickBooks Web Connector

Do this once on each PC that runs QuickBooks Desktop and the QuickBooks Web Connector. You need the `.qwc` file made for you and the password that came with it. Sign in to QuickBooks as the Admin user, with the company file open, and stay signed in until step 6.

### 1. Create a dedicated QuickBooks user with Full Access and an Intuit account email

The connector signs in to QuickBooks as this user, so give it a login of its own rather than a person's.

- QuickBooks Pro or Premier: **Company → Set Up Users and Passwords → Set Up Users → Add User**, then give it access to all areas of QuickBooks (Full Access).
- QuickBooks Enterprise: **Company → Users → Set Up Users and Roles → New**, then give it the Full Access role.

Give the user a password and, when QuickBooks asks for one, an Intuit account email address.

### 2. Switch to single-user mode for the first connection

Choose **File → Switch to Single-user Mode**. QuickBooks lets a new application in only while the Admin has the company file open in single-user mode, so ask everyone else to close the file first.

### 3. Add the .qwc file in the Web Connector

Open the QuickBooks Web Connector, choose **File → Add an Application** and pick your `.qwc` file. When QuickBooks asks whether to allow the application, choose **Yes, always; allow access even if QuickBooks is not running**, set **Login as** to the user from step 1 and click **Continue**.

### 4. Enter the password

In the Web Connector, click the **Password** field in the application's row, type the password you were given and press Enter. Answer **Yes** when asked whether to save it. Tick the box at the start of the row, and **Auto-Run** to run on a schedule.

### 5. Allow automatic login in QuickBooks

In QuickBooks, open **Edit → Preferences → Integrated Applications → Company Preferences**, select the application and click **Properties**. Tick **Allow this application to read and modify this company file** and **Allow this application to login automatically**, set **Login as** to the user from step 1, and click **OK**.

### 6. Leave QuickBooks at No Company Open

Choose **File → Close Company**, or quit QuickBooks. With no company open, the Web Connector opens the company file itself when it runs and closes it afterwards, which releases the QuickBooks license seat.

### 7. Use one .qwc per person and PC

Every person who runs the Web Connector, on every PC, needs a `.qwc` file of their own: ask your administrator for one per user. Do not copy a `.qwc` file to a second PC or pass it on, because QuickBooks would see two Web Connectors as one application.

### 8. Use the same drive letter on every PC

If the company file is on a shared drive, open it through the same mapped drive letter on every PC (for example `Q:\Accounts\Company.qbw`), not through a network (UNC) path such as `\\server\share\Company.qbw`. The server checks which company file is open, and a different path looks like a different file.
"#;

/// The setup guide as Markdown, for the README.
pub fn setup_guide_markdown() -> &'static str {
    GUIDE
}

/// Who the customer asks for help: the operator's product name and, when
/// configured, a support page and address (`[brand]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupportContact<'a> {
    /// The product's name, as the customer knows it.
    pub name: &'a str,
    /// A page where the customer gets help.
    pub url: Option<&'a str>,
    /// An address where the customer gets help.
    pub email: Option<&'a str>,
}

impl Default for SupportContact<'_> {
    fn default() -> Self {
        SupportContact { name: "qbwcd", url: None, email: None }
    }
}

impl SupportContact<'_> {
    /// One paragraph saying where to get help; without a configured
    /// contact it sends the reader to whoever gave them the file.
    pub fn html(&self) -> String {
        let name = escape(self.name);
        let mut ways = Vec::new();
        if let Some(url) = self.url {
            let url = escape(url);
            ways.push(format!("<a href=\"{url}\">{url}</a>"));
        }
        if let Some(email) = self.email {
            let email = escape(email);
            ways.push(format!("<a href=\"mailto:{email}\">{email}</a>"));
        }
        if ways.is_empty() {
            format!(
                "<p class=\"contact\">Need help? Ask the administrator who gave you the <code>.qwc</code> file for \
                 {name}.</p>\n"
            )
        } else {
            format!("<p class=\"contact\">Need help? Contact {name} support: {}.</p>\n", ways.join(" or "))
        }
    }
}

/// The complete `AppSupport` page: a self-contained HTML5 document (inline
/// CSS, no external assets) with the setup guide, in the operator's name
/// (`contact`) and with its support contact. Settings values are escaped.
pub fn support_page_html(settings: &QwcSettings, contact: &SupportContact<'_>) -> String {
    let app = escape(contact.name);
    let body = format!(
        "<header><h1>Connect QuickBooks to {app}</h1><p class=\"lede\">{}</p>\n{}</header>\n<main>\n{}</main>\n\
         <footer>This is the support page named in your <code>.qwc</code> file.</footer>\n",
        escape(settings.app_description.trim()),
        contact.html(),
        markdown_to_html(GUIDE),
    );
    page(&format!("QuickBooks Web Connector setup \u{2013} {app}"), &body)
}

/// The page for a refused onboarding link: 410 (expired or used up) or 403
/// (altered or not ours). `message` is escaped.
pub fn link_error_page_html(status: u16, message: &str) -> String {
    let title = match status {
        410 => "This link has expired",
        403 => "This link is not valid",
        _ => "This link cannot be used",
    };
    let body = format!(
        "<main><h1>{title}</h1><p>{}</p><p>Download links for <code>.qwc</code> files work for a limited time and a \
         limited number of downloads. Ask the person who sent you the link for a new one.</p></main>\n",
        escape(message),
    );
    page(title, &body)
}

const STYLE: &str = "body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",sans-serif;max-width:46rem;\
margin:2rem auto;padding:0 1rem;color:#1b1b1b;background:#fff}h1{font-size:1.6rem}h2{font-size:1.3rem;\
margin-top:2rem}h3{font-size:1.05rem;margin-top:1.6rem}code{background:#f1f1f1;padding:0 .2em;border-radius:3px}\
.lede{color:#555}footer{margin-top:3rem;color:#777;font-size:.9rem}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

/// Escapes text for HTML element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Converts the guide's Markdown subset: blocks are separated by blank
/// lines; a block is a heading, a `- ` list or a paragraph.
fn markdown_to_html(markdown: &str) -> String {
    let mut html = String::with_capacity(markdown.len() * 2);
    for block in markdown.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        if let Some(h) = block.strip_prefix("### ") {
            html.push_str(&format!("<h3>{}</h3>\n", inline(h)));
        } else if let Some(h) = block.strip_prefix("## ") {
            html.push_str(&format!("<h2>{}</h2>\n", inline(h)));
        } else if block.starts_with("- ") {
            html.push_str("<ul>\n");
            for item in block.split("\n- ") {
                html.push_str(&format!("<li>{}</li>\n", inline(item.trim_start_matches("- "))));
            }
            html.push_str("</ul>\n");
        } else {
            html.push_str(&format!("<p>{}</p>\n", inline(block)));
        }
    }
    html
}

/// Escapes a run of text and turns `**bold**` and `` `code` `` into tags.
/// Unbalanced markers are closed at the end so the HTML stays well-formed.
fn inline(text: &str) -> String {
    let text = escape(&text.replace('\n', " "));
    let (mut out, mut bold, mut code) = (String::with_capacity(text.len() + 32), false, false);
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        if !code && rest.starts_with("**") {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            rest = &rest[2..];
            continue;
        }
        if c == '`' {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    if code {
        out.push_str("</code>");
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The steps the issue asks for, in the order it asks for them.
    const ORDER: [&str; 13] = [
        "dedicated QuickBooks user with Full Access",
        "Intuit account email",
        "Company → Set Up Users and Passwords → Set Up Users → Add User",
        "Company → Users → Set Up Users and Roles → New",
        "single-user mode",
        "File → Add an Application",
        "Enter the password",
        "Edit → Preferences → Integrated Applications → Company Preferences",
        "Allow this application to login automatically",
        "Login as",
        "No Company Open",
        "one .qwc per person and PC",
        "same drive letter",
    ];

    /// Asserts each phrase occurs after the previous one.
    fn assert_in_order(text: &str) {
        let mut from = 0;
        for phrase in ORDER {
            let at = text[from..].find(phrase).unwrap_or_else(|| panic!("{phrase:?} missing or out of order"));
            from += at + phrase.len();
        }
        assert!(text[from..].contains("UNC"), "UNC path warning after the drive letter step");
    }

    #[test]
    fn the_guide_has_every_step_in_order() {
        assert_in_order(setup_guide_markdown());
    }

    #[test]
    fn the_support_page_has_every_step_in_order_and_is_a_whole_page() {
        let html = support_page_html(&QwcSettings::default(), &SupportContact::default());
        assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(!html.contains("src=") && !html.contains("href="), "no external assets");
        assert!(!html.contains("**") && !html.contains('`'), "all markup converted");
        assert_in_order(&html);
        assert!(html.contains("<strong>File → Add an Application</strong>"));
        assert!(html.contains(r"<code>\\server\share\Company.qbw</code>"));
        assert_eq!(html.matches("<li>").count(), html.matches("</li>").count());
        assert_eq!(html.matches("<p>").count() + html.matches("<p ").count(), html.matches("</p>").count());
    }

    #[test]
    fn settings_on_the_support_page_are_escaped() {
        let s = QwcSettings { app_description: "A & \"B\"".into(), ..QwcSettings::default() };
        let contact = SupportContact {
            name: "<script>x</script>",
            url: Some("https://h\"><b>"),
            email: Some("help@acme.test\"x"),
        };
        let html = support_page_html(&s, &contact);
        assert!(!html.contains("<script>") && !html.contains("<b>"));
        assert!(html.contains("Connect QuickBooks to &lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("mailto:help@acme.test&quot;x"));
        assert!(html.contains("A &amp; &quot;B&quot;"));
    }

    #[test]
    fn the_support_page_names_the_brand_and_its_contact() {
        let contact =
            SupportContact { name: "Acme Sync", url: Some("https://help.acme.test"), email: Some("help@acme.test") };
        let html = support_page_html(&QwcSettings::default(), &contact);
        assert!(html.contains("<h1>Connect QuickBooks to Acme Sync</h1>"), "{html}");
        assert!(html.contains("<title>QuickBooks Web Connector setup \u{2013} Acme Sync</title>"));
        assert!(html.contains("Contact Acme Sync support: <a href=\"https://help.acme.test\">"), "{html}");
        assert!(html.contains("<a href=\"mailto:help@acme.test\">help@acme.test</a>"), "{html}");
        let plain = support_page_html(&QwcSettings::default(), &SupportContact::default());
        assert!(plain.contains("Connect QuickBooks to qbwcd") && plain.contains("Ask the administrator"));
    }

    #[test]
    fn link_error_pages_say_what_happened_and_escape_the_message() {
        let gone = link_error_page_html(410, "expired <yesterday>");
        assert!(gone.starts_with("<!doctype html>"));
        assert!(gone.contains("<h1>This link has expired</h1>"));
        assert!(gone.contains("expired &lt;yesterday&gt;"));
        assert!(link_error_page_html(403, "x").contains("<h1>This link is not valid</h1>"));
        assert!(link_error_page_html(400, "x").contains("cannot be used"));
    }

    #[test]
    fn unbalanced_inline_markers_still_close() {
        assert_eq!(inline("a **b `c"), "a <strong>b <code>c</code></strong>");
        assert_eq!(inline("`**`"), "<code>**</code>");
    }
}
