//! The TLS backends this build has: every TLS test runs on each.

use servicefabric_rest::tls::TlsBackend;

pub fn backends() -> Vec<TlsBackend> {
    let mut all = Vec::new();
    if cfg!(feature = "tls") {
        all.push(TlsBackend::Rustls);
    }
    if cfg!(feature = "native-tls") {
        all.push(TlsBackend::NativeTls);
    }
    all
}
