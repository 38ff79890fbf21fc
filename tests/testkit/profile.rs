//! An HTTP server for the client's UCP profile (the URL a client puts in `UCP-Agent`).

use axum::routing::get;
use axum::Router;

/// The platform profile the tests present.
pub const PLATFORM_PROFILE: &str = include_str!("../fixtures/platform_profile.json");

/// Serves `/profile.json` (the platform profile) and `/future.json` (a profile of a newer UCP
/// version) on a free port; returns the base URL. Runs until the test's runtime ends.
pub async fn serve() -> String {
    let future = PLATFORM_PROFILE.replace("\"version\": \"2026-01-11\"", "\"version\": \"2099-01-01\"");
    let app = Router::new()
        .route(
            "/profile.json",
            get(|| async { ([("content-type", "application/json")], PLATFORM_PROFILE) }),
        )
        .route(
            "/future.json",
            get(move || async move { ([("content-type", "application/json")], future) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind profile server");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}
