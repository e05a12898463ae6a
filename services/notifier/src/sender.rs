//! Sends an `Outgoing` over HTTP or HTTPS (hyper with rustls and ring, the
//! system's root certificates) and says what came back. The notifier has
//! its own small client rather than reqwest's so the binary's other HTTP
//! clients keep their plain-HTTP build. An error names what failed without
//! the URL's query or any header, so a token never reaches a log or a
//! delivery record.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::outgoing::{shown_url, Outgoing};
use crate::retry::Answer;

#[derive(Clone)]
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Sender {
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(builder) => builder,
            Err(e) => {
                // A host or image without CA certificates still delivers
                // over plain HTTP; each HTTPS delivery fails, and says so.
                tracing::warn!(error = %e, "no system root certificates: HTTPS deliveries will fail");
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(no_roots(provider)?)
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, timeout })
    }

    pub async fn send(&self, request: &Outgoing) -> Answer {
        let mut builder = hyper::Request::post(&request.url).header(
            "User-Agent",
            concat!("TestArena-notifier/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let shown = shown_url(&request.url, true);
        let request = match builder.body(Full::new(Bytes::from(request.body.clone()))) {
            Ok(request) => request,
            Err(_) => return Answer::NoAnswer(format!("not a valid request ({shown})")),
        };
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Answer::Status(response.status().as_u16()),
            Ok(Err(e)) if e.is_connect() => {
                Answer::NoAnswer(format!("could not connect ({shown})"))
            }
            Ok(Err(_)) => Answer::NoAnswer(format!("the request failed ({shown})")),
            Err(_) => Answer::NoAnswer(format!("no answer within {:?} ({shown})", self.timeout)),
        }
    }
}

/// A TLS config that trusts no certificate.
fn no_roots(provider: Arc<rustls::crypto::CryptoProvider>) -> anyhow::Result<rustls::ClientConfig> {
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS protocol versions: {e}"))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}
