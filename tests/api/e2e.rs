//! End to end in a real browser: Debian's Chromium, headless, driven over WebDriver (chromedriver
//! and `fantoccini`). One test per role's main path, each page checked with axe-core (vendored in
//! `tests/data/axe`, MPL-2.0) for serious or critical WCAG 2.2 A/AA violations, and screenshots kept
//! in `target/e2e-screenshots/` (not committed).
//!
//! Without chromedriver on the PATH these tests say so and pass, unless `ONEWINDOW_E2E_REQUIRED`
//! is set (`.ci/run` sets it after installing Chromium), when a missing browser fails them.

mod applicant;
mod ratings;
mod staff;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::repo;

/// A headless Chromium session and the chromedriver that runs it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    pub base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

/// The browser binary itself (Debian's `/usr/bin/chromium` is a shell launcher around it).
fn chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/lib/chromium/chromium")).filter(|p| p.is_file()))
        .or_else(|| on_path("chromium"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A browser with a window of `width`×`height` CSS pixels, or `None` (and a note) when this
/// machine has none and none is required.
pub async fn browser(base: &str, width: u32, height: u32) -> Option<Browser> {
    let required = std::env::var_os("ONEWINDOW_E2E_REQUIRED").is_some();
    let (Some(chromedriver), Some(chromium)) = (on_path("chromedriver"), chromium()) else {
        assert!(!required, "ONEWINDOW_E2E_REQUIRED is set but chromedriver or chromium is not installed");
        eprintln!("skipping the browser test: chromedriver and chromium are not installed (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = free_port();
    let driver = Command::new(chromedriver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        // Without these, its own connections are refused on these machines and it stalls.
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        format!("--user-data-dir={}", profile.path().display()),
        format!("--window-size={width},{height}"),
        "--lang=zh-CN".into(),
    ];
    let mut capabilities = serde_json::Map::new();
    let mut options = json!({"binary": chromium, "args": args});
    if width < 500 {
        // Headless windows are at least 500 pixels wide: a phone's screen is emulated instead.
        options["mobileEmulation"] = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true}});
    }
    capabilities.insert("goog:chromeOptions".into(), options);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
            Ok(client) => break client,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("chromedriver did not start a session: {error}"),
        }
    };
    Some(Browser { client, driver, _profile: profile, base: base.to_string() })
}

impl Browser {
    pub async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the browser is at a path starting with `prefix` (a click returns before the
    /// page it leads to has loaded), and returns the path.
    pub async fn wait_for_path(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let path = self.path().await;
            let ready = self.client.execute("return document.readyState", vec![]).await.unwrap();
            if path.starts_with(prefix) && ready.as_str() == Some("complete") {
                return path;
            }
            assert!(Instant::now() < deadline, "never reached {prefix}: at {path}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matching `css` is on the page.
    pub async fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.client.find(Locator::Css(css)).await.is_err() {
            assert!(Instant::now() < deadline, "{css} never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    /// The main text of the page now (read in one script, so a page being replaced by the next
    /// gives one or the other, never a stale element); empty while a page loads.
    pub async fn text(&self) -> String {
        let script = "const m = document.querySelector('main'); return m ? m.innerText : '';";
        for _ in 0..20 {
            if let Ok(Value::String(text)) = self.client.execute(script, vec![]).await {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page's text could not be read")
    }

    /// Waits until the page's main text contains `text`, reloading every second (for a case
    /// being decided, the page's own script reloads it too).
    pub async fn wait_for_text(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.text().await.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "“{text}” never appeared; the page says:\n{}", self.text().await);
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.client.refresh().await.unwrap();
        }
    }

    /// Saves a screenshot as a test artefact.
    pub async fn screenshot(&self, name: &str) {
        let dir = repo().join("target/e2e-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), self.client.screenshot().await.unwrap()).unwrap();
    }

    /// Runs axe-core on the page and fails on any serious or critical WCAG 2.x A/AA violation.
    pub async fn check_accessibility(&self, page: &str) {
        let axe = std::fs::read_to_string(repo().join("tests/data/axe/axe.min.js")).unwrap();
        self.client.execute(&axe, vec![]).await.unwrap();
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] } })
              .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.html) }))))
              .catch(e => done([{ id: "axe-error", impact: "critical", help: String(e), nodes: [] }]));
        "#;
        let violations = self.client.execute_async(script, vec![]).await.unwrap();
        let serious: Vec<&Value> =
            violations.as_array().unwrap().iter().filter(|v| matches!(v["impact"].as_str(), Some("serious") | Some("critical"))).collect();
        assert!(serious.is_empty(), "{page}: accessibility violations: {}", serde_json::to_string_pretty(&serious).unwrap());
    }

    /// Both: every page a test visits is looked at and checked.
    pub async fn look(&self, name: &str) {
        self.screenshot(name).await;
        self.check_accessibility(name).await;
    }
}
