//! Faults the emulator injects on purpose, so users can test their retries: busy (503
//! `E_ABORT`) and timed-out (504 `FABRIC_E_TIMEOUT`) answers, added latency, and connections
//! dropped after part of a body. Seeded: the same plan and the same sequence of requests get
//! the same faults.

use std::{
    fmt, io,
    pin::Pin,
    str::FromStr,
    sync::Mutex,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::{
    Request, Response,
    body::{Body, Frame, Incoming, SizeHint},
};

/// The operations a rule can name (the spec's operationIds).
pub const OPERATIONS: &[&str] = &[
    "GetImageStoreUploadSessionById",
    "GetImageStoreUploadSessionByPath",
    "UploadFileChunk",
    "CommitImageStoreUploadSession",
    "DeleteImageStoreUploadSession",
    "CreateName",
    "GetSubNameInfoList",
    "GetNameExistsInfo",
    "DeleteName",
    "GetAadMetadata",
    "UploadFile",
    "GetImageStoreContent",
    "GetImageStoreRootContent",
    "DeleteImageStoreContent",
    "CopyImageStoreContent",
    "ProvisionApplicationType",
    "GetApplicationTypeInfoList",
    "GetApplicationTypeInfoListByName",
    "UnprovisionApplicationType",
    "GetApplicationManifest",
    "GetServiceManifest",
    "CreateApplication",
    "GetApplicationInfoList",
    "GetApplicationInfo",
    "DeleteApplication",
    "StartApplicationUpgrade",
    "GetApplicationUpgrade",
    "UpdateApplicationUpgrade",
    "ResumeApplicationUpgrade",
    "RollbackApplicationUpgrade",
    "GetApplicationHealth",
    "GetServiceInfoList",
    "GetClusterVersion",
];

/// What happens to a share of the requests of one operation (or of all). Fractions are of
/// all requests, in `0.0..=1.0`, and together at most 1.
///
/// ```
/// use std::time::Duration;
/// use servicefabric_emulator::Faults;
///
/// let flaky = Faults { busy: 0.2, timeout: 0.05, latency: Duration::from_millis(10), ..Faults::default() };
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Share answered 503 `E_ABORT` (not acted on).
    pub busy: f64,
    /// Share answered 504 `FABRIC_E_TIMEOUT` (not acted on).
    pub timeout: f64,
    /// Share whose connection is dropped after part of a body: half of the request body is read
    /// and the request is not acted on; a request without one is served, and its answer is cut
    /// after half of its body (or not sent, when it has none).
    pub drop: f64,
    /// Added before every answer of the operation.
    pub latency: Duration,
}

/// A seeded set of [`Faults`] per operation: see
/// [`EmulatorBuilder::faults`](crate::EmulatorBuilder::faults) and `sfrest emulator --faults`.
///
/// The text form is rules separated by `;`: `seed=N`, then `OPERATION:` (or `*:` for every
/// operation) followed by `503=F,504=F,drop=F,latency=MSms`. An operation's own rule replaces
/// the `*` rule for it.
///
/// ```
/// use servicefabric_emulator::FaultPlan;
///
/// let plan: FaultPlan = "seed=7;*:503=0.1,latency=5ms;UploadFileChunk:drop=0.2".parse()?;
/// assert_eq!(plan.seed(), 7);
/// assert!("UploadChunk:503=0.1".parse::<FaultPlan>().is_err()); // not an operationId
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    seed: u64,
    every: Faults,
    per_operation: Vec<(&'static str, Faults)>,
}

/// One request's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Serve,
    Busy,
    Timeout,
    Drop,
}

impl FaultPlan {
    /// An empty plan with this seed.
    ///
    /// ```
    /// # use servicefabric_emulator::{FaultPlan, Faults};
    /// let plan = FaultPlan::new(42).every_operation(Faults { busy: 0.5, ..Faults::default() });
    /// ```
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// Faults for every operation without a rule of its own.
    ///
    /// ```
    /// # use servicefabric_emulator::{FaultPlan, Faults};
    /// let plan = FaultPlan::new(1).every_operation(Faults { timeout: 0.1, ..Faults::default() });
    /// ```
    pub fn every_operation(mut self, faults: Faults) -> Self {
        self.every = faults;
        self
    }

    /// Faults for one operation (an operationId of [`OPERATIONS`]); refuses another name.
    ///
    /// ```
    /// # use servicefabric_emulator::{FaultPlan, Faults};
    /// let plan = FaultPlan::new(1).operation("UploadFileChunk", Faults { drop: 0.3, ..Faults::default() })?;
    /// # Ok::<(), String>(())
    /// ```
    pub fn operation(mut self, operation: &str, faults: Faults) -> Result<Self, String> {
        let known = OPERATIONS
            .iter()
            .find(|o| **o == operation)
            .ok_or_else(|| {
                format!(
                    "unknown operation {operation:?}: expected one of {}",
                    OPERATIONS.join(", ")
                )
            })?;
        check(&faults)?;
        self.per_operation.retain(|(o, _)| o != known);
        self.per_operation.push((known, faults));
        Ok(self)
    }

    /// The seed.
    ///
    /// ```
    /// # use servicefabric_emulator::FaultPlan;
    /// assert_eq!(FaultPlan::new(9).seed(), 9);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn faults(&self, operation: &str) -> &Faults {
        self.per_operation
            .iter()
            .find(|(o, _)| *o == operation)
            .map_or(&self.every, |(_, f)| f)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.every == Faults::default() && self.per_operation.is_empty()
    }
}

fn check(faults: &Faults) -> Result<(), String> {
    for (what, share) in [
        ("503", faults.busy),
        ("504", faults.timeout),
        ("drop", faults.drop),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(format!("{what}={share}: expected a fraction in 0..=1"));
        }
    }
    let total = faults.busy + faults.timeout + faults.drop;
    if total > 1.0 + 1e-9 {
        return Err(format!(
            "503, 504 and drop add up to {total}: expected at most 1"
        ));
    }
    Ok(())
}

impl FromStr for FaultPlan {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut plan = FaultPlan::default();
        for rule in text.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            if let Some(seed) = rule.strip_prefix("seed=") {
                plan.seed = seed
                    .parse()
                    .map_err(|_| format!("seed={seed}: expected an unsigned integer"))?;
                continue;
            }
            let (operation, settings) = rule.split_once(':').ok_or_else(|| {
                format!("{rule:?}: expected OPERATION:503=F,504=F,drop=F,latency=MSms or seed=N")
            })?;
            let mut faults = Faults::default();
            for setting in settings.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (key, value) = setting
                    .split_once('=')
                    .ok_or_else(|| format!("{setting:?}: expected KEY=VALUE"))?;
                let share = || {
                    value
                        .parse::<f64>()
                        .map_err(|_| format!("{key}={value}: expected a fraction in 0..=1"))
                };
                match key {
                    "503" => faults.busy = share()?,
                    "504" => faults.timeout = share()?,
                    "drop" => faults.drop = share()?,
                    "latency" => {
                        let ms = value
                            .strip_suffix("ms")
                            .and_then(|v| v.parse::<u64>().ok())
                            .ok_or_else(|| {
                                format!("latency={value}: expected milliseconds such as 20ms")
                            })?;
                        faults.latency = Duration::from_millis(ms);
                    }
                    other => {
                        return Err(format!(
                            "{other:?}: expected one of 503, 504, drop, latency"
                        ));
                    }
                }
            }
            plan = match operation.trim() {
                "*" => {
                    check(&faults)?;
                    plan.every_operation(faults)
                }
                name => plan.operation(name, faults)?,
            };
        }
        Ok(plan)
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = |f: &mut fmt::Formatter<'_>, name: &str, x: &Faults| {
            write!(
                f,
                ";{name}:503={},504={},drop={},latency={}ms",
                x.busy,
                x.timeout,
                x.drop,
                x.latency.as_millis()
            )
        };
        write!(f, "seed={}", self.seed)?;
        rule(f, "*", &self.every)?;
        for (name, faults) in &self.per_operation {
            rule(f, name, faults)?;
        }
        Ok(())
    }
}

/// A plan in force: the plan and its random sequence.
#[derive(Debug)]
pub(crate) struct Injector {
    /// The plan and its random sequence, replaced together.
    plan: Mutex<(FaultPlan, fastrand::Rng)>,
}

impl Injector {
    pub fn new(plan: FaultPlan) -> Self {
        let rng = fastrand::Rng::with_seed(plan.seed);
        Self {
            plan: Mutex::new((plan, rng)),
        }
    }

    /// Puts `plan` in force from the next request on, with its own random sequence.
    pub fn replace(&self, plan: FaultPlan) {
        if let Ok(mut current) = self.plan.lock() {
            let rng = fastrand::Rng::with_seed(plan.seed);
            *current = (plan, rng);
        }
    }

    /// The fate of the next request of `operation`, and the latency to add.
    pub fn decide(&self, operation: &str) -> (Fate, Duration) {
        let Ok(mut current) = self.plan.lock() else {
            return (Fate::Serve, Duration::ZERO);
        };
        let (plan, rng) = &mut *current;
        if plan.is_empty() {
            return (Fate::Serve, Duration::ZERO);
        }
        let faults = *plan.faults(operation);
        let draw = rng.f64();
        let fate = if draw < faults.busy {
            Fate::Busy
        } else if draw < faults.busy + faults.timeout {
            Fate::Timeout
        } else if draw < faults.busy + faults.timeout + faults.drop {
            Fate::Drop
        } else {
            Fate::Serve
        };
        if fate != Fate::Serve {
            tracing::info!(operation, fault = ?fate, "fault plan: injected");
        }
        (fate, faults.latency)
    }
}

fn dropped() -> io::Error {
    io::Error::other("fault plan: connection dropped")
}

/// The request's Content-Length, 0 when it has none.
pub(crate) fn declared_length(request: &Request<Incoming>) -> u64 {
    request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Reads half of the request body, then gives the error that makes hyper drop the
/// connection: the request is never acted on.
pub(crate) async fn drop_mid_request(request: Request<Incoming>) -> io::Error {
    let half = declared_length(&request) / 2;
    let mut body = request.into_body();
    let mut read = 0u64;
    while read < half {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => break,
        }
    }
    dropped()
}

/// The answer, cut after half of its body; an answer without a body is not sent at all.
pub(crate) async fn truncate(
    response: Response<Full<Bytes>>,
) -> Result<Response<AnswerBody>, io::Error> {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if bytes.is_empty() {
        return Err(dropped());
    }
    let truncated = Truncated {
        total: bytes.len() as u64,
        part: Some(bytes.slice(..bytes.len() / 2)),
    };
    Ok(Response::from_parts(parts, Either::Right(truncated)))
}

/// A body that announces its full length, sends half, then fails: hyper cuts the connection.
/// An answer's body: whole, or cut by the fault plan.
pub(crate) type AnswerBody = Either<Full<Bytes>, Truncated>;

pub(crate) struct Truncated {
    part: Option<Bytes>,
    total: u64,
}

impl Body for Truncated {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(match self.part.take() {
            Some(part) => Ok(Frame::data(part)),
            None => Err(dropped()),
        }))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_bad_input_names_itself() {
        let plan: FaultPlan = "seed=3;*:503=0.25,latency=7ms;CreateName:504=1"
            .parse()
            .expect("plan");
        assert_eq!(plan.to_string().parse::<FaultPlan>(), Ok(plan.clone()));
        assert_eq!(plan.faults("CreateName").timeout, 1.0);
        assert_eq!(plan.faults("DeleteName").busy, 0.25);
        for (bad, named) in [
            ("*:503=2", "503=2"),
            ("*:503=0.6,504=0.6", "add up"),
            ("Nope:503=0.1", "\"Nope\""),
            ("*:latency=5", "latency=5"),
            ("*:teapot=1", "teapot"),
            ("seed=x", "seed=x"),
            ("503=0.1", "503=0.1"),
        ] {
            let err = bad.parse::<FaultPlan>().expect_err(bad);
            assert!(err.contains(named), "{bad}: {err}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fates_in_the_right_shares() {
        let plan = FaultPlan::new(11).every_operation(Faults {
            busy: 0.3,
            timeout: 0.2,
            drop: 0.1,
            ..Faults::default()
        });
        let fates = |plan: &FaultPlan| {
            let injector = Injector::new(plan.clone());
            (0..10_000)
                .map(|_| injector.decide("CreateName").0)
                .collect::<Vec<_>>()
        };
        let first = fates(&plan);
        assert_eq!(first, fates(&plan), "repeatable");
        let share = |fate| first.iter().filter(|f| **f == fate).count() as f64 / 10_000.0;
        assert!((share(Fate::Busy) - 0.3).abs() < 0.03);
        assert!((share(Fate::Timeout) - 0.2).abs() < 0.03);
        assert!((share(Fate::Drop) - 0.1).abs() < 0.03);
        assert_ne!(
            first,
            fates(&FaultPlan { seed: 12, ..plan }),
            "another seed"
        );
    }
}
