//! The browser harness: a real `qbwcd serve` process on a random loopback
//! port over a temporary database, driven by headless Chromium through
//! `chromedriver` (WebDriver) on another random loopback port, with a fresh
//! browser profile and download folder per test.
//!
//! Debian's `chromium` and `chromium-driver` provide the browser; `.ci/run`
//! installs them. Without them a test prints that it was skipped and
//! passes, except under `CI=true`, where a missing browser fails it.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// The `chromium` and `chromedriver` executables, when both are installed.
fn browser_paths() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    Some((find("chromium")?, find("chromedriver")?))
}

/// A free loopback port (bound and released; the child binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Where screenshots go: `target/browser-screenshots/`, beside the test
/// binary's own temporary folder (`target/tmp`).
pub fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("browser-screenshots")
}

/// A `qbwcd serve` child process on a random loopback port, killed on drop.
pub struct Serve {
    child: Child,
    pub base: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Serve {
    /// Starts `qbwcd serve` on `db_url` and waits until it is ready.
    pub async fn start(db_url: &str, envs: &[(&str, &str)]) -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr = dir.path().join("stderr.log");
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qbwcd"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("QBWCD_DATABASE_URL", db_url)
            .env("QBWCD_LOG_FORMAT", "pretty")
            // Links and .qwc files name this server (a .qwc needs a host
            // name, not an IP address); the browser itself uses 127.0.0.1.
            .env("QBWCD_PUBLIC_URL", format!("http://localhost:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let serve = Serve {
            child: cmd.spawn().expect("spawn qbwcd serve"),
            base: format!("http://127.0.0.1:{port}"),
            stderr,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{}/readyz", serve.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return serve;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("qbwcd serve did not come up: {}", serve.logs());
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `qbwcd` CLI on the server's database with `stdin`; panics with
/// its stderr when it fails. Returns stdout.
pub fn qbwcd(db_url: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(args)
        .env("QBWCD_DATABASE_URL", db_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qbwcd");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("qbwcd output");
    assert!(out.status.success(), "qbwcd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Headless Chromium under its own `chromedriver`, both in a process group
/// of their own so that dropping it ends the browser too, even when a test
/// panics before closing its session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Screenshot names are `<test>-<nn>-<what>.png`.
    test: String,
    shots: usize,
    profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh browser for `test`, or `None` (after saying so) when Chromium
    /// is not installed and this is not CI.
    pub async fn start(test: &str) -> Option<Browser> {
        let Some((chromium, chromedriver)) = browser_paths() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but chromium/chromedriver are not installed (.ci/run installs them)");
            }
            eprintln!("skipped {test}: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
            return None;
        };
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let client = connect(port, &chromium, profile.path()).await;
        Some(Browser { client, driver, test: test.to_owned(), shots: 0, profile })
    }

    /// Where this browser's downloads land.
    pub fn downloads(&self) -> PathBuf {
        self.profile.path().join("downloads")
    }

    /// Saves a screenshot of the page as it is now.
    pub async fn shot(&mut self, what: &str) {
        self.shots += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{}-{:02}-{what}.png", self.test, self.shots)), png).expect("write screenshot");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.try_text().await.unwrap_or_else(|e| panic!("the page's text: {e}"))
    }

    /// The page's visible text, or why it could not be read (a page still
    /// being replaced by the next one has a stale body).
    async fn try_text(&self) -> Result<String, fantoccini::error::CmdError> {
        self.client.find(Locator::Css("body")).await?.text().await
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.expect("url").path().to_owned()
    }

    /// The form control whose `<label>` reads `label` (by `for=` or by
    /// nesting; a hint inside the label after its text is left out).
    pub async fn field(&self, label: &str) -> Element {
        // A label's own text, before any hint inside it (`<span class=hint>`).
        let label = format!("//label[normalize-space(text())={q} or normalize-space()={q}]", q = xpath_literal(label));
        let xpath = format!(
            "//*[self::input or self::textarea or self::select][@id={label}/@for] \
             | {label}//*[self::input or self::textarea or self::select]"
        );
        self.client.find(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("no field labelled {label:?}: {e}"))
    }

    /// Types `value` into the field labelled `label` (clearing it first).
    pub async fn fill(&self, label: &str, value: &str) {
        let f = self.field(label).await;
        f.clear().await.unwrap_or_else(|e| panic!("clear {label:?}: {e}"));
        f.send_keys(value).await.unwrap_or_else(|e| panic!("type into {label:?}: {e}"));
    }

    /// Puts `value` into the field labelled `label` as a paste does (typed
    /// keys would turn a tab into a move to the next field).
    pub async fn paste(&self, label: &str, value: &str) {
        let f = self.field(label).await;
        let arg = serde_json::to_value(&f).expect("element reference");
        self.client
            .execute("arguments[0].value = arguments[1];", vec![arg, serde_json::Value::from(value)])
            .await
            .unwrap_or_else(|e| panic!("paste into {label:?}: {e}"));
    }

    /// Clicks the first button (or submit input) whose text is `text`.
    pub async fn press(&self, text: &str) {
        let q = xpath_literal(text);
        let xpath = format!("//button[normalize-space()={q}] | //input[@type='submit' and @value={q}]");
        let b = self.client.find(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("no button {text:?}: {e}"));
        b.click().await.unwrap_or_else(|e| panic!("click {text:?}: {e}"));
    }

    /// Clicks the link whose text is `text`.
    pub async fn follow(&self, text: &str) {
        let a = self.client.find(Locator::LinkText(text)).await.unwrap_or_else(|e| panic!("no link {text:?}: {e}"));
        a.click().await.unwrap_or_else(|e| panic!("click link {text:?}: {e}"));
    }

    /// Waits until the page's text contains `needle` (pages are plain
    /// form posts, so this only covers the navigation in flight).
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = self.try_text().await.unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("the page at {} never said {needle:?}:\n{text}", self.path().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a complete download whose name ends in `.{ext}`; returns
    /// its name and bytes.
    pub async fn downloaded_with_extension(&self, ext: &str) -> (String, Vec<u8>) {
        let start = Instant::now();
        loop {
            let names: Vec<String> = std::fs::read_dir(self.downloads())
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let partial = names.iter().any(|n| n.ends_with(".crdownload"));
            if let Some(name) = names.iter().find(|n| n.ends_with(&format!(".{ext}"))).filter(|_| !partial) {
                return (name.clone(), std::fs::read(self.downloads().join(name)).expect("read download"));
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("no .{ext} file was downloaded; the folder holds {names:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the browser session cleanly (the drop ends the processes).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its own process group: the browser is in it too.
        let pgid = self.driver.id();
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
        let _ = self.driver.wait();
    }
}

/// Opens a WebDriver session once `chromedriver` answers: headless, a fresh
/// profile, no background traffic, downloads into the profile's folder.
async fn connect(port: u16, chromium: &Path, profile: &Path) -> Client {
    let downloads = profile.join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads dir");
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                // Tests run as root in CI, where the sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.join("chromium").display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false,
            },
        }
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!("an object literal") };
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let attempt = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(client) => return client,
            Err(e) if start.elapsed() > Duration::from_secs(20) => panic!("no WebDriver session on {url}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `s` as an XPath string literal (XPath 1.0 has no escapes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
