//! [`Emulator`]: a running emulator, what tests ask of it, and its shutdown.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::sync::oneshot;

use crate::{FaultPlan, gateway::State};

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) stops it; without a data
/// directory its temporary state is removed.
pub struct Emulator {
    pub(crate) endpoint: String,
    pub(crate) thumbprint: Option<String>,
    pub(crate) certificate_pem: Option<String>,
    pub(crate) addr: SocketAddr,
    pub(crate) root: PathBuf,
    pub(crate) state: Arc<State>,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) server: Option<tokio::task::JoinHandle<()>>,
    pub(crate) _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("endpoint", &self.endpoint)
            .field("data_dir", &self.root)
            .finish()
    }
}

impl Emulator {
    /// The URL to give a client (`http://127.0.0.1:PORT`, or `https://` with
    /// `EmulatorBuilder::tls`, feature `tls`).
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// assert!(emulator.endpoint().starts_with("http://127.0.0.1:"));
    /// # Ok(()) }
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The SHA-1 thumbprint of the certificate it serves (40 upper-case hex digits, as
    /// Service Fabric shows them), when it serves https (feature `tls`); `None` over http.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// assert_eq!(emulator.server_thumbprint(), None);
    /// # Ok(()) }
    /// ```
    pub fn server_thumbprint(&self) -> Option<&str> {
        self.thumbprint.as_deref()
    }

    /// The certificate chain it serves, PEM, when it serves https (to trust it as a CA).
    pub fn server_certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// The address it listens on.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// assert!(emulator.local_addr().ip().is_loopback());
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where its state lives; committed files are under `store/`.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// let committed = emulator.data_dir().join("store");
    /// # Ok(()) }
    /// ```
    pub fn data_dir(&self) -> &Path {
        &self.root
    }

    /// Puts another fault plan in force from the next request on (with its own seeded
    /// sequence), as if the emulator had been started with it: one emulator for several
    /// network conditions in a benchmark.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::{Emulator, FaultPlan};
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let emulator = Emulator::start().await?;
    /// emulator.set_faults("seed=1;*:latency=20ms".parse::<FaultPlan>()?);
    /// emulator.set_faults(FaultPlan::default());
    /// # Ok(()) }
    /// ```
    pub fn set_faults(&self, plan: FaultPlan) {
        self.state.faults.replace(plan);
    }

    /// Creates many names at once, in process (for large test and benchmark setups).
    /// Existing names are skipped; an invalid name stops with its value.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// let names = (0..10_000).map(|i| format!("fabric:/bench/n{i:05}"));
    /// let created = emulator.create_names(names).map_err(std::io::Error::other)?;
    /// assert_eq!(created, 10_000);
    /// # Ok(()) }
    /// ```
    pub fn create_names<I, S>(&self, names: I) -> Result<usize, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (count, refused) = self
            .state
            .naming
            .create_many(names)
            .map_err(|e| e.message.to_string())?;
        match refused {
            None => Ok(count),
            Some((name, e)) => Err(format!("{name:?}: {}", e.code)),
        }
    }

    /// File bytes received so far by UploadFile and UploadFileChunk requests, whether they
    /// were kept or not: what a resumed upload avoided sending shows here.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// assert_eq!(emulator.received_bytes(), 0);
    /// # Ok(()) }
    /// ```
    pub fn received_bytes(&self) -> u64 {
        self.state
            .received
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests received so far, per operation name (`GetImageStoreContent`, `UploadFile`,
    /// ...; `Unknown` for paths the gateway does not route), refused ones included.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// let total: u64 = emulator.requests().values().sum();
    /// assert_eq!(total, 0);
    /// # Ok(()) }
    /// ```
    pub fn requests(&self) -> std::collections::BTreeMap<String, u64> {
        self.state
            .requests
            .lock()
            .map(|counts| counts.iter().map(|(k, v)| (k.to_string(), *v)).collect())
            .unwrap_or_default()
    }

    /// The application types provisioned so far, as (name, version), sorted.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// assert!(emulator.application_types().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn application_types(&self) -> Vec<(String, String)> {
        self.state
            .app_types
            .lock()
            .map(|t| t.list())
            .unwrap_or_default()
    }

    /// Stops serving and waits for the server task to end.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// emulator.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
