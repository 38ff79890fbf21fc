//! Reading a process's `/metrics` (Prometheus text).

/// The text of `<url>/metrics`.
pub async fn scrape(url: &str) -> String {
    let response = reqwest::get(format!("{url}/metrics")).await.expect("metrics answer");
    assert!(response.status().is_success(), "{url}/metrics: {}", response.status());
    response.text().await.expect("metrics text")
}

/// The value of a sample (`name{labels} value`) whose line starts with `series`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with([' ', '{']))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}
