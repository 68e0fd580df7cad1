//! The fault matrix's plans, and the guard and patient client its cells run with.

use std::{future::Future, time::Duration};

use servicefabric_emulator::{FaultPlan, Faults};
use servicefabric_rest::{Client, RetryPolicy};

/// Fails the test instead of hanging it.
pub async fn guarded<T>(what: &str, call: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), call).await {
        Ok(value) => value,
        Err(_) => panic!("{what} hung"),
    }
}

pub fn patient(endpoint: &str) -> Client {
    Client::builder(endpoint)
        .retry_policy(
            RetryPolicy::default()
                .max_retries(12)
                .initial_backoff(Duration::from_millis(2))
                .max_backoff(Duration::from_millis(20)),
        )
        .http_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// The matrix: each fault alone, all together, with latency, and aimed at single operations.
pub fn plans() -> Vec<FaultPlan> {
    let share = |busy, timeout, drop| Faults {
        busy,
        timeout,
        drop,
        ..Faults::default()
    };
    vec![
        FaultPlan::new(1).every_operation(share(0.3, 0.0, 0.0)),
        FaultPlan::new(2).every_operation(share(0.0, 0.3, 0.0)),
        FaultPlan::new(3).every_operation(share(0.0, 0.0, 0.3)),
        FaultPlan::new(4).every_operation(share(0.1, 0.1, 0.1)),
        FaultPlan::new(5).every_operation(Faults {
            latency: Duration::from_millis(3),
            ..share(0.05, 0.05, 0.05)
        }),
        FaultPlan::new(6)
            .operation("UploadFileChunk", share(0.0, 0.0, 0.5))
            .expect("plan")
            .operation("GetSubNameInfoList", share(0.5, 0.0, 0.0))
            .expect("plan"),
    ]
}
