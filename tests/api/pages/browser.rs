//! A browser as the page tests drive it: one cookie jar (read from `Set-Cookie`, sent back as
//! `Cookie`), no redirects followed (the tests assert them), and the page's CSRF token read
//! from its hidden field.

use std::collections::BTreeMap;

use crate::helpers::TestApp;

pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` line seen, for asserting attributes.
    pub set_cookies: Vec<String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: String,
    pub body: String,
    pub bytes: Vec<u8>,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of the first hidden input named `name`.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        Some(self.body[start..].split('"').next()?.to_string())
    }

    pub fn csrf(&self) -> String {
        self.hidden("csrf").unwrap_or_else(|| panic!("no csrf field on the page:\n{}", self.body))
    }

    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }

    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    /// Whether `first` appears on the page, before `second`.
    pub fn find_before(&self, first: &str, second: &str) -> bool {
        matches!((self.body.find(first), self.body.find(second)), (Some(a), Some(b)) if a < b)
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: app.address.clone(), client, cookies: BTreeMap::new(), set_cookies: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn page(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let line = value.to_str().unwrap().to_string();
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
            self.set_cookies.push(line);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = response.headers().get(reqwest::header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let bytes = response.bytes().await.unwrap().to_vec();
        Page { status, location, content_type, body: String::from_utf8_lossy(&bytes).to_string(), bytes, headers }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self.client.get(format!("{}{path}", self.base)).header("Cookie", self.cookie_header()).send().await.unwrap();
        self.page(response).await
    }

    pub async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let owned: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        self.post_pairs(path, &owned).await
    }

    pub async fn post_pairs(&mut self, path: &str, pairs: &[(String, String)]) -> Page {
        let response =
            self.client.post(format!("{}{path}", self.base)).header("Cookie", self.cookie_header()).form(pairs).send().await.unwrap();
        self.page(response).await
    }

    /// A multipart upload as the case page's form sends it: the token first, then the files.
    pub async fn upload(&mut self, path: &str, csrf: Option<&str>, files: &[(String, Vec<u8>)]) -> Page {
        let mut form = reqwest::multipart::Form::new();
        if let Some(token) = csrf {
            form = form.text("csrf", token.to_string());
        }
        for (name, bytes) in files {
            form = form.part("files", reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()));
        }
        let response =
            self.client.post(format!("{}{path}", self.base)).header("Cookie", self.cookie_header()).multipart(form).send().await.unwrap();
        self.page(response).await
    }

    /// Signs up an applicant through the page.
    pub async fn sign_up(&mut self, name: &str) {
        let csrf = self.get("/signup").await.csrf();
        let page =
            self.post("/signup", &[("csrf", &csrf), ("name", name), ("phone", "13912345678"), ("password", "correct horse battery")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location.as_deref(), Some("/my"));
    }

    pub async fn sign_in(&mut self, name: &str, password: &str) -> Page {
        let csrf = self.get("/login").await.csrf();
        self.post("/login", &[("csrf", &csrf), ("name", name), ("password", password)]).await
    }
}

/// Creates a staff account with a password through the command line, as an operator would.
/// An account with a password made on the command line, as staff accounts are; returns the API
/// token the command prints last.
pub fn staff_account(app: &TestApp, role: &str, name: &str, password: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::helpers::onewindow_exe())
        .args(["users", "add", "--role", role, name, "--password-stdin", "--data-dir"])
        .arg(&app.data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!printed.contains(password), "a password is never printed");
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().trim().to_string()
}
