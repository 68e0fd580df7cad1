//! [`EmulatorBuilder`]: what an emulator serves and how, and the start that assembles the
//! services behind one gateway; [`HealthRule`] for monitored upgrades.

use std::{
    fs, io,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{net::TcpListener, sync::oneshot};

#[cfg(feature = "tls")]
use crate::TlsOptions;
use crate::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FILE_BYTES, DEFAULT_PAGE_BYTES,
    DEFAULT_SESSION_TTL, DEFAULT_STORE_PAGE_ENTRIES, DEFAULT_UPGRADE_DOMAINS, FaultPlan,
    cluster_manager::{
        application_types::AppTypes,
        applications::{self as cm, Applications},
    },
    gateway::{Settings, State, bearer::Bearer, faults::Injector},
    handle::Emulator,
    image_store::{content::Store, sessions::Uploads},
    naming::Naming,
    seed, server,
};

/// Configures an [`Emulator`]; see [`Emulator::builder`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    listen: SocketAddr,
    data_dir: Option<PathBuf>,
    seeded: bool,
    page_bytes: usize,
    page_max_names: Option<usize>,
    session_ttl: Duration,
    max_chunk_bytes: u64,
    max_file_bytes: u64,
    idle_timeout: Duration,
    max_connections: usize,
    faults: FaultPlan,
    #[cfg(feature = "tls")]
    tls: Option<TlsOptions>,
    bearer: Option<Bearer>,
    store_page_entries: usize,
    upgrade_domains: usize,
    time_scale: f64,
    health: Vec<HealthRule>,
}

/// What makes an application report a health state, for testing monitored upgrades:
/// `TYPE@VERSION=STATE[:from=UDn]` (`Ok`, `Warning` or `Error`). An application running that
/// version reports the state; one upgrading to it reports it from the moment domain `UDn`
/// starts (without `from`, from the first domain).
///
/// ```
/// use servicefabric_emulator::HealthRule;
///
/// let rule: HealthRule = "ShopType@2.0.0=Error:from=UD2".parse()?;
/// assert_eq!(rule.to_string(), "ShopType@2.0.0=Error:from=UD2");
/// assert!("ShopType=Error".parse::<HealthRule>().is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRule(cm::HealthRule);

impl std::str::FromStr for HealthRule {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad =
            || format!("health rule {text:?}: expected TYPE@VERSION=Ok|Warning|Error[:from=UDn]");
        let (target, rest) = text.split_once('=').ok_or_else(bad)?;
        let (type_name, version) = target.split_once('@').ok_or_else(bad)?;
        let (state, from) = match rest.split_once(':') {
            Some((state, from)) => (state, Some(from)),
            None => (rest, None),
        };
        if type_name.is_empty()
            || version.is_empty()
            || !matches!(state, "Ok" | "Warning" | "Error")
        {
            return Err(bad());
        }
        let from_domain = match from {
            None => None,
            Some(from) => Some(
                from.strip_prefix("from=UD")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(bad)?,
            ),
        };
        Ok(Self(cm::HealthRule {
            type_name: type_name.to_string(),
            version: version.to_string(),
            state: state.to_string(),
            from_domain,
        }))
    }
}

impl std::fmt::Display for HealthRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.0;
        write!(f, "{}@{}={}", r.type_name, r.version, r.state)?;
        if let Some(d) = r.from_domain {
            write!(f, ":from=UD{d}")?;
        }
        Ok(())
    }
}

impl EmulatorBuilder {
    /// Address to listen on (default `127.0.0.1:0`, a free port).
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().listen(([127, 0, 0, 1], 19080).into()).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Keeps state in `dir` (committed files under `store/`, open sessions under
    /// `sessions/`, names in `names.log`), so that a restart loses nothing acknowledged.
    /// Default: a temporary directory removed when the emulator stops.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().data_dir("./sf-data").start().await?;
    /// // after a restart with the same directory, names, sessions and files are still there
    /// # Ok(()) }
    /// ```
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Starts with the seed pages' names and upload sessions.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().seeded(true).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn seeded(mut self, seeded: bool) -> Self {
        self.seeded = seeded;
        self
    }

    /// Cuts `GetSubNames` pages at about this many bytes (default 3 MiB, like the runtime).
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().page_bytes(4096).start().await?; // many small pages
    /// # Ok(()) }
    /// ```
    pub fn page_bytes(mut self, bytes: usize) -> Self {
        self.page_bytes = bytes.max(1);
        self
    }

    /// Also cuts pages at this many names (default: no count limit).
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().seeded(true).page_max_names(3).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn page_max_names(mut self, names: usize) -> Self {
        self.page_max_names = Some(names.max(1));
        self
    }

    /// Idle time after which an upload session expires (default 30 minutes).
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder()
    ///     .session_ttl(std::time::Duration::from_secs(1))
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Files and folders per page of an image-store listing (default 1000); a longer listing
    /// is paged with a `ContinuationToken`, as the runtime does.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().store_page_entries(2).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn store_page_entries(mut self, entries: usize) -> Self {
        self.store_page_entries = entries.max(1);
        self
    }

    /// Largest chunk one UploadChunk request may carry (default 256 MiB).
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().max_chunk_bytes(1024 * 1024).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn max_chunk_bytes(mut self, bytes: u64) -> Self {
        self.max_chunk_bytes = bytes;
        self
    }

    /// Largest file a session may declare (default 64 GiB); a larger Content-Range total gets
    /// 413 `FABRIC_E_VALUE_TOO_LARGE` at its first chunk.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().max_file_bytes(1 << 30).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// How long a connection may wait without sending a request head, or a request body
    /// without sending a byte, before it is closed (default 30 s).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().idle_timeout(Duration::from_secs(5)).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Connections served at once (default 512); further clients wait to be accepted.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().max_connections(64).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Faults to inject (503s, 504s, latency, dropped connections), seeded so that a run can
    /// be repeated; see [`FaultPlan`]. The seeded state is written before they apply.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::{Emulator, FaultPlan};
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let plan: FaultPlan = "seed=1;*:503=0.2;UploadFileChunk:drop=0.1".parse()?;
    /// let emulator = Emulator::builder().faults(plan).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// Serves https, as a secured cluster does; with
    /// [`TlsOptions::client_thumbprints`], only clients with one of those certificates are
    /// served, others get 403.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::{Emulator, TlsOptions};
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().tls(TlsOptions::generated()).start().await?;
    /// println!("{} shows {:?}", emulator.endpoint(), emulator.server_thumbprint());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// Acts as an Entra ID cluster: every request but `GetAadMetadata` must carry
    /// `Authorization: Bearer <token>` (401 without one, 403 with another), and
    /// `GetAadMetadata` answers with made-up tenant and application ids. A real cluster
    /// serves tokens over https only: pair it with `tls` (feature `tls`), as clients refuse to
    /// send a token over http.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder()
    ///     .bearer_token("test-token")
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(Bearer(token.into()));
        self
    }

    /// Upgrade domains of the emulated cluster (default 5, named `UD0`…): a rolling upgrade
    /// walks them in order.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().upgrade_domains(3).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn upgrade_domains(mut self, domains: usize) -> Self {
        self.upgrade_domains = domains.max(1);
        self
    }

    /// Runs every timer of an upgrade `factor` times faster (the time a domain takes, the
    /// health-check wait, stable and retry durations, the interval between health
    /// evaluations, both timeouts), so a default Monitored upgrade takes seconds in a test.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().time_scale(1000.0).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn time_scale(mut self, factor: f64) -> Self {
        self.time_scale = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        self
    }

    /// Makes applications report a health state; see [`HealthRule`]. Repeatable.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let emulator = Emulator::builder()
    ///     .health("ShopType@2.0.0=Error:from=UD2".parse()?)
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn health(mut self, rule: HealthRule) -> Self {
        self.health.push(rule);
        self
    }

    /// Binds, loads or seeds the state, and starts serving.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().seeded(true).start().await?;
    /// println!("serving on {}", emulator.endpoint());
    /// # Ok(()) }
    /// ```
    pub async fn start(self) -> io::Result<Emulator> {
        let (temp, root) = match &self.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("sfrest-emulator-")
                    .tempdir()?;
                let root = temp.path().to_path_buf();
                (Some(temp), root)
            }
        };
        fs::create_dir_all(&root)?;
        let uploads = Uploads::open(&root, self.session_ttl, self.max_file_bytes)?;
        let state = Arc::new(State {
            config: Settings {
                page_bytes: self.page_bytes,
                page_max_names: self.page_max_names,
                runtime_version: (9, 1),
                max_chunk_bytes: self.max_chunk_bytes,
                idle_timeout: self.idle_timeout,
                bearer: self.bearer.clone(),
                max_file_bytes: self.max_file_bytes,
                store_page_entries: self.store_page_entries,
                time_scale: self.time_scale,
            },
            naming: Naming::open(&root)?,
            uploads: Mutex::new(uploads),
            store: Store::open(&root)?,
            app_types: Mutex::new(AppTypes::open(&root)?),
            applications: Mutex::new(Applications::open(
                &root,
                cm::Settings {
                    upgrade_domains: self.upgrade_domains,
                    time_scale: self.time_scale,
                    health: self.health.iter().map(|r| r.0.clone()).collect(),
                },
            )?),
            faults: Injector::new(self.faults.clone()),
            received: std::sync::atomic::AtomicU64::new(0),
            requests: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        });
        // Seeded once per data directory: what a client deleted stays deleted after a restart.
        let seeded_marker = root.join("seeded");
        if self.seeded && !seeded_marker.exists() {
            seed::apply(&state.naming, &state.uploads)?;
            fs::write(&seeded_marker, b"")?;
        }
        #[cfg(feature = "tls")]
        let tls = self.tls.as_ref().map(TlsOptions::acceptor).transpose()?;
        #[cfg(not(feature = "tls"))]
        let tls: Option<server::Tls> = None;
        let listener = TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        #[cfg(feature = "tls")]
        let (thumbprint, certificate_pem) = tls
            .as_ref()
            .map(|t| (t.thumbprint.clone(), t.pem.clone()))
            .unzip();
        #[cfg(not(feature = "tls"))]
        let (thumbprint, certificate_pem): (Option<String>, Option<String>) = (None, None);
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(server::serve(
            listener,
            tls.map(Arc::new),
            state.clone(),
            stopped,
            self.max_connections,
        ));
        Ok(Emulator {
            endpoint: format!("{scheme}://{addr}"),
            thumbprint,
            certificate_pem,
            addr,
            root,
            state,
            stop: Some(stop),
            server: Some(server),
            _temp: temp,
        })
    }
}

/// Starting points: a builder, or an emulator with the defaults.
impl Emulator {
    /// Configures an emulator before starting it.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::builder().seeded(true).page_max_names(3).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            seeded: false,
            page_bytes: DEFAULT_PAGE_BYTES,
            page_max_names: None,
            session_ttl: DEFAULT_SESSION_TTL,
            max_chunk_bytes: 256 * 1024 * 1024,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            faults: FaultPlan::default(),
            #[cfg(feature = "tls")]
            tls: None,
            bearer: None,
            store_page_entries: DEFAULT_STORE_PAGE_ENTRIES,
            upgrade_domains: DEFAULT_UPGRADE_DOMAINS,
            time_scale: 1.0,
            health: Vec::new(),
        }
    }

    /// An empty emulator on `127.0.0.1` and a free port.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start() -> io::Result<Self> {
        Self::builder().start().await
    }

    /// An emulator holding the seed pages' names and upload sessions.
    ///
    /// ```no_run
    /// # use servicefabric_emulator::Emulator;
    /// # async fn demo() -> std::io::Result<()> {
    /// let emulator = Emulator::start_seeded().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_seeded() -> io::Result<Self> {
        Self::builder().seeded(true).start().await
    }
}
