//! The one TLS crypto provider: rustls on `ring`, which builds from Rust and a little C
//! with `cc` where `aws-lc-rs` needs cmake and a large C library (a slower fresh build,
//! measured in issue 10's note). reqwest is built without a provider of its own and
//! takes the process default, so every client is set up through [`provider`].

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The process-wide provider: ring, installed as the default on first use so that
/// reqwest (built with `rustls-no-provider`) finds it; a provider someone else
/// installed first is kept.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    if let Some(p) = CryptoProvider::get_default() {
        return p.clone();
    }
    // Losing a race to another thread's install is fine: get_default then has one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_installed_and_every_call_gives_the_same_provider() {
        let a = provider();
        let b = provider();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(CryptoProvider::get_default().is_some_and(|d| Arc::ptr_eq(d, &a)));
        // reqwest panics at build without a process default: it must now build.
        assert!(reqwest::Client::builder().build().is_ok());
    }
}
