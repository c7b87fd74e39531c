//! A real headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, with `fantoccini`), for the explorer's tests.
//!
//! Without the two programs the tests pass with a notice, except under
//! `CI=true` (which installs them), where they fail.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page gets to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(60);

/// A browser session; the driver and its browser are stopped when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

/// The port chromedriver says it listens on ("ChromeDriver was started
/// successfully on port N."); what it prints later is read and dropped, so a
/// full pipe never blocks it.
fn announced_port(driver: &mut Child) -> u16 {
    let mut stdout = BufReader::new(driver.stdout.take().unwrap());
    let mut seen = String::new();
    let port = loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("chromedriver exited without a port; it printed {seen:?}");
        }
        if let Some(rest) = line
            .trim()
            .strip_prefix("ChromeDriver was started successfully on port ")
        {
            break rest.trim_end_matches('.').parse().unwrap();
        }
        seen.push_str(&line);
    };
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    port
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or `None` (with a
    /// notice) where they are not installed and this is not CI.
    pub async fn start() -> Option<Self> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var("CI").is_err(),
                "CI must install Chromium and its driver (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "notice: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium \
                 chromium-driver); skipping"
            );
            return None;
        }
        // Its own process group, so the browsers it starts are stopped with
        // it even when a test panics. It takes a port the kernel picks and
        // says which: one picked here could be taken before it binds it.
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let port = announced_port(&mut driver);
        let profile = std::env::temp_dir().join(format!(
            "kvs-explorer-chromium-{}-{port}",
            std::process::id()
        ));
        // Chromium's own background traffic (updates, sync, Google's hosts)
        // is switched off: this machine's network is closed, and the tests
        // speak only to loopback.
        let downloads = profile.join("downloads");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() < PATIENCE => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("no WebDriver session on {url}: {error}"),
            }
        };
        Some(Self {
            client,
            driver,
            profile,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
    }

    /// The value of a JavaScript expression on the page.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|error| panic!("cannot evaluate {expression}: {error}"))
    }

    /// Waits until a JavaScript expression is true on the page.
    pub async fn wait_until(&self, expression: &str) {
        let started = Instant::now();
        loop {
            if self.eval(expression).await == Value::Bool(true) {
                return;
            }
            if started.elapsed() > PATIENCE {
                let notice = self.text("#notice").await;
                panic!("the page never showed {expression} (notice: {notice:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of the element `css` selects ("" if hidden).
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css}: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {css}: {error}"));
    }

    /// Replaces the contents of a field with `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css}: {error}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the key `key` in the list (it must be on the page shown).
    pub async fn open_key(&self, key: &str) {
        let selector = format!("#keys button[data-key=\"{}\"]", key.replace('"', "\\\""));
        self.wait_until(&format!(
            "document.querySelector({}) !== null",
            serde_json::to_string(&selector).unwrap()
        ))
        .await;
        self.click(&selector).await;
        self.wait_until(&format!(
            "!document.getElementById('entry').hidden && \
             document.getElementById('entry-key').textContent === {}",
            serde_json::to_string(key).unwrap()
        ))
        .await;
    }

    /// Searches by prefix and waits for the list to show it.
    pub async fn search(&self, prefix: &str) {
        self.type_into("#prefix", prefix).await;
        self.click("#search-form button").await;
        self.wait_until(&format!(
            "Array.from(document.querySelectorAll('#keys button')).every(b => \
             b.dataset.key.startsWith({}))",
            serde_json::to_string(prefix).unwrap()
        ))
        .await;
    }

    /// Saves a screenshot as `target/explorer-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("explorer-screenshots");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("{name}.png")), png).unwrap();
    }

    /// The bytes of the file the browser downloaded as `name`, once it is
    /// complete.
    pub async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.profile.join("downloads").join(name);
        let started = Instant::now();
        loop {
            let partial = self
                .profile
                .join("downloads")
                .join(format!("{name}.crdownload"));
            if path.exists() && !partial.exists() {
                return std::fs::read(&path).unwrap();
            }
            assert!(started.elapsed() < PATIENCE, "no download of {name}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the page has an alert open (a script it should not have run
    /// would have opened one).
    pub async fn has_alert(&self) -> bool {
        self.client.get_alert_text().await.is_ok()
    }

    pub async fn close(self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}
