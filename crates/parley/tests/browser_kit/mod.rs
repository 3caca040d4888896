//! What the browser tests share: a headless Chromium session through
//! ChromeDriver, a page-sized viewport, and waits that poll until a deadline.

#![allow(dead_code)]

use anyhow::bail;
use serde_json::Value;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};
use thirtyfour::common::capabilities::chromium::ChromiumLikeCapabilities;
use thirtyfour::common::log::LoggingPrefsLogLevel;
use thirtyfour::error::WebDriverErrorInner;
use thirtyfour::prelude::*;

pub const DRIVER_URL_VAR: &str = "CHROMEDRIVER_URL";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const WAIT: Duration = Duration::from_secs(20);
pub const POLL: Duration = Duration::from_millis(100);

pub async fn open_browser(driver_url: &str, profile: &Path) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,800",
        "--hide-scrollbars",
        "--lang=en-GB",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .unwrap();
    caps.set_logging_prefs("browser", LoggingPrefsLogLevel::All)
        .unwrap();
    let driver = WebDriver::new(driver_url, caps)
        .await
        .expect("chromedriver opens a session");
    set_viewport(&driver, 1280, 800)
        .await
        .expect("the window is resized");
    driver
}

/// Sizes the window so that the page itself (what a screenshot shows) is
/// `width` x `height` CSS pixels.
pub async fn set_viewport(driver: &WebDriver, width: u32, height: u32) -> anyhow::Result<()> {
    driver.set_window_rect(0, 0, width, height).await?;
    let inner = driver
        .execute(
            "return [window.innerWidth, window.innerHeight];",
            Vec::new(),
        )
        .await?
        .convert::<(u32, u32)>()?;
    if inner != (width, height) {
        let outer_width = width + width.saturating_sub(inner.0);
        let outer_height = height + height.saturating_sub(inner.1);
        driver
            .set_window_rect(0, 0, outer_width, outer_height)
            .await?;
    }
    Ok(())
}

/// Polls `check` until it gives a value or [`WAIT`] passes; the last error
/// (or "not yet") is in the failure.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("not yet"),
            Err(error) => format!("{error:#}"),
        };
        if started.elapsed() > WAIT {
            bail!("waited {WAIT:?} for {what}: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs a script and waits until it returns something other than null,
/// undefined or false.
pub async fn wait_js(driver: &WebDriver, what: &str, script: &str) -> anyhow::Result<Value> {
    wait_for(what, || async {
        let value = driver.execute(script, Vec::new()).await?.json().clone();
        Ok(match value {
            Value::Null | Value::Bool(false) => None,
            other => Some(other),
        })
    })
    .await
}

/// Waits for an element that a script finds (shadow roots are out of reach of
/// plain selectors).
pub async fn wait_element(
    driver: &WebDriver,
    what: &str,
    script: &str,
) -> anyhow::Result<WebElement> {
    wait_for(what, || async {
        let ret = driver.execute(script, Vec::new()).await?;
        if ret.json().is_null() {
            return Ok(None);
        }
        Ok(Some(ret.element()?))
    })
    .await
}

pub async fn wait_displayed(
    driver: &WebDriver,
    what: &str,
    css: &str,
) -> anyhow::Result<WebElement> {
    wait_for(what, || async {
        match driver.find(By::Css(css)).await {
            Ok(element) if element.is_displayed().await? => Ok(Some(element)),
            Ok(_) => Ok(None),
            Err(error) if matches!(error.as_inner(), WebDriverErrorInner::NoSuchElement(_)) => {
                Ok(None)
            }
            Err(other) => Err(other.into()),
        }
    })
    .await
}
