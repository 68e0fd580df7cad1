//! Property tests of the response decoders: arbitrary bytes and arbitrary JSON shapes into
//! every generated type and through the typed layer. No panic; a typed error or a value whose
//! invariants hold. `PROPTEST_CASES=N` lengthens the run (see the README).

mod support;

use proptest::prelude::*;
use servicefabric_rest::{Client, Error, RetryPolicy, generated::types};

/// Decodes `bytes` as every generated type; only checks that nothing panics.
fn decode_all(bytes: &[u8]) {
    let _ = serde_json::from_slice::<types::FabricError>(bytes);
    let _ = serde_json::from_slice::<types::PagedSubNameInfoList>(bytes);
    let _ = serde_json::from_slice::<types::UploadSession>(bytes);
    let _ = serde_json::from_slice::<types::UploadSessionInfo>(bytes);
    let _ = serde_json::from_slice::<types::UploadChunkRange>(bytes);
    let _ = serde_json::from_slice::<types::NameDescription>(bytes);
    let _ = serde_json::from_slice::<types::AadMetadataObject>(bytes);
    let _ = serde_json::from_slice::<servicefabric_rest::ErrorCode>(bytes);
}

/// JSON values of any shape, with the field names the gateway uses, so decoding gets past the
/// first byte.
fn gateway_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[0-9]{0,22}".prop_map(serde_json::Value::from),
        "-?[0-9a-z .]{0,12}".prop_map(serde_json::Value::from),
        "\\PC{0,24}".prop_map(serde_json::Value::from),
    ];
    let keys = prop_oneof![
        Just("UploadSessions"),
        Just("StoreRelativePath"),
        Just("SessionId"),
        Just("FileSize"),
        Just("ModifiedDate"),
        Just("ExpectedRanges"),
        Just("StartPosition"),
        Just("EndPosition"),
        Just("ContinuationToken"),
        Just("IsConsistent"),
        Just("SubNames"),
        Just("Error"),
        Just("Code"),
        Just("Message"),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn fuzz_generated_types_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn fuzz_generated_types_take_any_json(value in gateway_json()) {
        decode_all(value.to_string().as_bytes());
    }
}

/// Serves `body` with `status` to the typed calls and checks each outcome is Ok with sane
/// values, or a typed error.
fn typed_layer_takes(status: u16, body: String) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    runtime.block_on(async move {
        let stub = support::serve(move |_| support::reply(status, "X", &body)).await;
        let client = Client::builder(&stub.url)
            .retry_policy(RetryPolicy::none())
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match client
            .upload_sessions_by_id(servicefabric_rest::Uuid::nil())
            .await
        {
            Ok(sessions) => {
                for s in sessions {
                    for r in &s.expected_ranges {
                        prop_assert!(r.start <= r.end, "{r:?}");
                        prop_assert!(s.file_size == 0 || r.end < s.file_size, "{s:?}");
                    }
                    let _ = (s.missing_bytes(), s.is_complete());
                }
            }
            Err(e) => check_typed(&e, status)?,
        }
        match client.sub_names_page("fabric:/a", true, None).await {
            Ok(page) => prop_assert!(page.continuation_token.as_deref() != Some("")),
            Err(e) => check_typed(&e, status)?,
        }
        match client.name_exists("fabric:/a").await {
            Ok(_) => prop_assert!((200..300).contains(&status) || status == 404),
            Err(e) => check_typed(&e, status)?,
        }
        Ok(())
    })
}

fn check_typed(error: &Error, status: u16) -> Result<(), TestCaseError> {
    let _ = error.to_string();
    match error {
        Error::Gateway { status: s, .. } | Error::UnexpectedResponse { status: s, .. } => {
            prop_assert_eq!(s.as_u16(), status);
            prop_assert!(status >= 400);
        }
        Error::Decode { .. } => prop_assert!((200..300).contains(&status)),
        other => prop_assert!(false, "unexpected {other:?} for status {status}"),
    }
    Ok(())
}

proptest! {
    // Each case is a few HTTP calls: fewer by default, PROPTEST_CASES still lengthens it.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn fuzz_typed_layer_takes_any_answer(
        status in prop_oneof![Just(200u16), Just(400), Just(404), Just(500), Just(503)],
        value in gateway_json(),
    ) {
        typed_layer_takes(status, value.to_string())?;
    }
}
