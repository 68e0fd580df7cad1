//! The spec against the documented examples, the seed pages, and the generated types.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::{Value, json};
use servicefabric_rest::{ErrorCode, generated::types};

fn spec() -> Value {
    serde_json::from_str(include_str!("../spec/servicefabric.json")).expect("spec is JSON")
}

fn fixtures() -> Vec<Value> {
    let all: Value =
        serde_json::from_str(include_str!("fixtures/seed_examples.json")).expect("fixtures");
    all.as_array().expect("list").clone()
}

/// `(operationId, example name, example value, schema $ref)` for every 200 example in the spec.
fn spec_examples(spec: &Value) -> Vec<(String, String, Value, String)> {
    let mut out = Vec::new();
    for op in spec["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|p| p.as_object().expect("ops").values())
    {
        let media = &op["responses"]["200"]["content"]["application/json"];
        for (name, example) in media["examples"].as_object().into_iter().flatten() {
            out.push((
                op["operationId"].as_str().expect("id").to_string(),
                name.clone(),
                example["value"].clone(),
                media["schema"]["$ref"]
                    .as_str()
                    .expect("schema ref")
                    .to_string(),
            ));
        }
    }
    out
}

fn validator(spec: &Value, schema_ref: &str) -> jsonschema::Validator {
    let root = json!({ "$ref": schema_ref, "components": spec["components"] });
    jsonschema::validator_for(&root).expect("schema compiles")
}

#[test]
fn every_example_validates_against_its_schema() {
    let spec = spec();
    let examples = spec_examples(&spec);
    assert_eq!(
        examples.len(),
        7,
        "the five seed examples, and the image-store listing's (shared by its two operations)"
    );
    for (op, name, value, schema) in &examples {
        let v = validator(&spec, schema);
        let errors: Vec<String> = v.iter_errors(value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{op}/{name}: {errors:?}");
    }
    // The validator can fail: a number where the gateway writes a string is refused.
    let (_, _, session, schema) = examples
        .iter()
        .find(|e| e.3 == "#/components/schemas/UploadSession")
        .expect("an upload session example");
    let mut bad = session.clone();
    bad["UploadSessions"][0]["FileSize"] = json!(2097152);
    assert!(!validator(&spec, schema).is_valid(&bad));
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(value: &Value) -> Value {
    let typed: T =
        serde_json::from_value(value.clone()).expect("deserialises into the generated type");
    serde_json::to_value(&typed).expect("serialises")
}

#[test]
fn examples_round_trip_through_the_generated_types() {
    for (op, name, value, schema) in spec_examples(&spec()) {
        let back = match schema.as_str() {
            "#/components/schemas/UploadSession" => round_trip::<types::UploadSession>(&value),
            "#/components/schemas/PagedSubNameInfoList" => {
                round_trip::<types::PagedSubNameInfoList>(&value)
            }
            "#/components/schemas/ImageStoreContent" => {
                round_trip::<types::ImageStoreContent>(&value)
            }
            other => panic!("{op}/{name}: no generated type mapped for {other}"),
        };
        assert_eq!(
            back, value,
            "{op}/{name}: a field was lost, renamed or changed"
        );
    }
    let error = json!({"Error": {"Code": "FABRIC_E_SOMETHING_NEW", "Message": "m"}});
    assert_eq!(
        round_trip::<types::FabricError>(&error),
        error,
        "unknown codes survive"
    );
}

#[test]
fn spec_examples_equal_the_fixtures() {
    let spec = spec();
    // The seed pages' examples: those with the request the page shows.
    let examples: Vec<_> = spec_examples(&spec)
        .into_iter()
        .filter(|(op, name, _, _)| {
            spec["paths"]
                .as_object()
                .expect("paths")
                .values()
                .flat_map(|p| p.as_object().expect("ops").values())
                .any(|o| {
                    o["operationId"] == op.as_str() && !o["x-ms-examples-requests"][name].is_null()
                })
        })
        .collect();
    let fixtures = fixtures();
    assert_eq!(examples.len(), fixtures.len());
    for (op, name, value, _) in examples {
        let f = fixtures
            .iter()
            .find(|f| f["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no fixture {name}"));
        assert_eq!(f["operationId"], op.as_str());
        assert_eq!(f["body"], value, "{name}");
        let request = spec["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|p| p.as_object().expect("ops").values())
            .find(|o| o["operationId"] == op.as_str())
            .expect("op")["x-ms-examples-requests"][&name]
            .clone();
        assert_eq!(f["request"], request, "{name}");
    }
}

/// Requests and JSON bodies in a seed page, in order: `GET http://...` lines, each followed by
/// the next balanced `{...}`.
fn seed_page_examples(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("GET http://") {
        let line_end = rest[at..].find('\n').map_or(rest.len(), |i| at + i);
        let request = rest[at..line_end].trim().to_string();
        let open = rest[line_end..].find('{').expect("a body follows") + line_end;
        let mut depth = 0;
        let mut in_string = false;
        let mut escaped = false;
        let mut close = open;
        for (i, c) in rest[open..].char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '{' if !in_string => depth += 1,
                '}' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body: Value = serde_json::from_str(&rest[open..=close]).expect("seed body is JSON");
        out.push((request, body));
        rest = &rest[close..];
    }
    out
}

/// `../shared/<name>` beside the clone. A clone may not have it (a user's, or CI's clean
/// clone), and the comparisons are then skipped, loudly; `SFREST_REQUIRE_SHARED` set makes
/// its absence a failure, for a machine that must run them.
fn shared_dir(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SFREST_REQUIRE_SHARED").is_none(),
        "SFREST_REQUIRE_SHARED is set but {} is missing: the comparison against shared/ cannot be skipped",
        dir.display()
    );
    eprintln!(
        "SKIPPED: {} is missing, so this comparison against shared/ did not run",
        dir.display()
    );
    None
}

#[test]
fn fixtures_equal_the_seed_pages_where_present() {
    let Some(dir) = shared_dir("seeds") else {
        eprintln!("../shared/seeds is not beside this clone: fixtures are the reference");
        return;
    };
    let fixtures = fixtures();
    let mut matched = 0;
    for f in &fixtures {
        let page = std::fs::read_to_string(dir.join(f["seed_page"].as_str().expect("page")))
            .expect("seed page");
        let examples = seed_page_examples(&page);
        let hit = examples
            .iter()
            .any(|(req, body)| req == f["request"].as_str().expect("req") && body == &f["body"]);
        assert!(
            hit,
            "{} not found verbatim in {}: {examples:?}",
            f["name"], f["seed_page"]
        );
        matched += 1;
    }
    let total: usize = std::fs::read_dir(&dir)
        .expect("seeds")
        .map(|e| {
            seed_page_examples(&std::fs::read_to_string(e.expect("entry").path()).expect("read"))
                .len()
        })
        .sum();
    assert_eq!(matched, total, "every seed example has a fixture");
}

/// Matches `/ImageStore/{contentPath}/$/GetUploadSession` style templates; a parameter may span
/// segments (the gateway joins everything before the literal `$`).
fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let Some(open) = template.find('{') else {
        return (template == path).then(Vec::new);
    };
    let close = template.find('}')?;
    let (prefix, suffix) = (&template[..open], &template[close + 1..]);
    let value = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
    // The gateway routes on the literal `$` segment: a parameter never spans it.
    let spans_dollar = value.split('/').any(|segment| segment == "$");
    (!value.is_empty() && !spans_dollar)
        .then(|| vec![(template[open + 1..close].to_string(), value.to_string())])
}

fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .expect("ref resolves"),
        None => v,
    }
}

#[test]
fn seed_request_urls_parse_into_the_spec_paths_and_parameters() {
    let spec = spec();
    for f in fixtures() {
        let request = f["request"].as_str().expect("request");
        let target = request
            .strip_prefix("GET http://localhost:19080")
            .expect("GET on the gateway");
        let (path, query) = target.split_once('?').expect("a query");
        let mut hits = Vec::new();
        for (template, ops) in spec["paths"].as_object().expect("paths") {
            if let (Some(params), Some(op)) = (match_template(template, path), ops.get("get")) {
                hits.push((params, op));
            }
        }
        assert_eq!(hits.len(), 1, "{request} matches exactly one path");
        let (path_params, op) = &hits[0];
        assert_eq!(op["operationId"], f["operationId"], "{request}");
        let declared: Vec<&Value> = op["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .map(|p| resolve(&spec, p))
            .collect();
        for (name, _) in path_params {
            assert!(
                declared
                    .iter()
                    .any(|p| p["name"] == name.as_str() && p["in"] == "path"),
                "{name}"
            );
        }
        let mut seen = BTreeSet::new();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').expect("name=value");
            let p = declared
                .iter()
                .find(|p| p["name"] == name && p["in"] == "query")
                .unwrap_or_else(|| panic!("{request}: undeclared {name}"));
            let schema = &p["schema"];
            match schema["type"].as_str() {
                Some("boolean") => assert!(
                    value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
                    "{name}={value}"
                ),
                Some("integer") => assert!(value.parse::<u64>().is_ok(), "{name}={value}"),
                _ if schema["format"] == "uuid" => {
                    assert!(value.parse::<uuid::Uuid>().is_ok(), "{name}={value}")
                }
                _ => {}
            }
            if let Some(allowed) = schema["enum"].as_array() {
                assert!(
                    allowed.iter().any(|a| a == value),
                    "{name}={value} not in {allowed:?}"
                );
            }
            seen.insert(name.to_string());
        }
        for p in declared
            .iter()
            .filter(|p| p["required"] == true && p["in"] == "query")
        {
            assert!(
                seen.contains(p["name"].as_str().expect("name")),
                "{request}: required {} missing",
                p["name"]
            );
        }
    }
}

/// A schema's shape for comparison: `string`, `boolean`, `array<...>`, `object:Name`.
fn shape(schema: &Value, lookup: &dyn Fn(&str) -> Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().expect("name");
        let target = lookup(name);
        return if target["type"] == "object" || target.get("properties").is_some() {
            format!("object:{name}")
        } else {
            shape(&target, lookup)
        };
    }
    for key in ["anyOf", "allOf", "oneOf"] {
        if let Some(branches) = schema[key].as_array() {
            let shapes: BTreeSet<String> = branches
                .iter()
                .map(|b| shape(b, lookup))
                .filter(|s| s != "null")
                .collect();
            return shapes.into_iter().collect::<Vec<_>>().join("|");
        }
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join("|"),
        _ => "any".into(),
    };
    if ty == "array" {
        format!("array<{}>", shape(&schema["items"], lookup))
    } else {
        ty
    }
}

fn properties(schema: &Value, lookup: &dyn Fn(&str) -> Value) -> Vec<(String, String)> {
    schema["properties"]
        .as_object()
        .expect("properties")
        .iter()
        .map(|(k, v)| (k.clone(), shape(v, lookup)))
        .collect()
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

#[test]
fn generated_types_match_the_spec_components() {
    let spec = spec();
    let components = spec["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .clone();
    let spec_lookup = |name: &str| components[name].clone();
    let generated: Vec<(&str, schemars::schema::RootSchema)> = vec![
        ("UploadSession", schemars::schema_for!(types::UploadSession)),
        (
            "UploadSessionInfo",
            schemars::schema_for!(types::UploadSessionInfo),
        ),
        (
            "UploadChunkRange",
            schemars::schema_for!(types::UploadChunkRange),
        ),
        (
            "PagedSubNameInfoList",
            schemars::schema_for!(types::PagedSubNameInfoList),
        ),
        ("FabricError", schemars::schema_for!(types::FabricError)),
        (
            "FabricErrorError",
            schemars::schema_for!(types::FabricErrorError),
        ),
        (
            "NameDescription",
            schemars::schema_for!(types::NameDescription),
        ),
        (
            "AadMetadataObject",
            schemars::schema_for!(types::AadMetadataObject),
        ),
        ("AadMetadata", schemars::schema_for!(types::AadMetadata)),
        (
            "ImageStoreContent",
            schemars::schema_for!(types::ImageStoreContent),
        ),
        ("FileInfo", schemars::schema_for!(types::FileInfo)),
        ("FileVersion", schemars::schema_for!(types::FileVersion)),
        ("FolderInfo", schemars::schema_for!(types::FolderInfo)),
        (
            "ImageStoreCopyDescription",
            schemars::schema_for!(types::ImageStoreCopyDescription),
        ),
        (
            "ApplicationParameter",
            schemars::schema_for!(types::ApplicationParameter),
        ),
        (
            "ApplicationTypeInfo",
            schemars::schema_for!(types::ApplicationTypeInfo),
        ),
        (
            "PagedApplicationTypeInfoList",
            schemars::schema_for!(types::PagedApplicationTypeInfoList),
        ),
        (
            "UnprovisionApplicationTypeDescriptionInfo",
            schemars::schema_for!(types::UnprovisionApplicationTypeDescriptionInfo),
        ),
        (
            "ApplicationMetricDescription",
            schemars::schema_for!(types::ApplicationMetricDescription),
        ),
        (
            "ApplicationCapacityDescription",
            schemars::schema_for!(types::ApplicationCapacityDescription),
        ),
        (
            "ApplicationDescription",
            schemars::schema_for!(types::ApplicationDescription),
        ),
        (
            "ApplicationInfo",
            schemars::schema_for!(types::ApplicationInfo),
        ),
        (
            "PagedApplicationInfoList",
            schemars::schema_for!(types::PagedApplicationInfoList),
        ),
        (
            "ServiceTypeHealthPolicy",
            schemars::schema_for!(types::ServiceTypeHealthPolicy),
        ),
        (
            "ServiceTypeHealthPolicyMapItem",
            schemars::schema_for!(types::ServiceTypeHealthPolicyMapItem),
        ),
        (
            "ApplicationHealthPolicy",
            schemars::schema_for!(types::ApplicationHealthPolicy),
        ),
        (
            "MonitoringPolicyDescription",
            schemars::schema_for!(types::MonitoringPolicyDescription),
        ),
        (
            "ApplicationUpgradeDescription",
            schemars::schema_for!(types::ApplicationUpgradeDescription),
        ),
        (
            "RollingUpgradeUpdateDescription",
            schemars::schema_for!(types::RollingUpgradeUpdateDescription),
        ),
        (
            "ApplicationUpgradeUpdateDescription",
            schemars::schema_for!(types::ApplicationUpgradeUpdateDescription),
        ),
        (
            "ResumeApplicationUpgradeDescription",
            schemars::schema_for!(types::ResumeApplicationUpgradeDescription),
        ),
        (
            "UpgradeDomainInfo",
            schemars::schema_for!(types::UpgradeDomainInfo),
        ),
        (
            "NodeUpgradeProgressInfo",
            schemars::schema_for!(types::NodeUpgradeProgressInfo),
        ),
        (
            "CurrentUpgradeDomainProgressInfo",
            schemars::schema_for!(types::CurrentUpgradeDomainProgressInfo),
        ),
        (
            "FailureUpgradeDomainProgressInfo",
            schemars::schema_for!(types::FailureUpgradeDomainProgressInfo),
        ),
        (
            "HealthEvaluationWrapper",
            schemars::schema_for!(types::HealthEvaluationWrapper),
        ),
        (
            "ApplicationUpgradeProgressInfo",
            schemars::schema_for!(types::ApplicationUpgradeProgressInfo),
        ),
        ("HealthEvent", schemars::schema_for!(types::HealthEvent)),
        (
            "ServiceHealthState",
            schemars::schema_for!(types::ServiceHealthState),
        ),
        (
            "DeployedApplicationHealthState",
            schemars::schema_for!(types::DeployedApplicationHealthState),
        ),
        (
            "ApplicationHealth",
            schemars::schema_for!(types::ApplicationHealth),
        ),
        ("ServiceInfo", schemars::schema_for!(types::ServiceInfo)),
        (
            "PagedServiceInfoList",
            schemars::schema_for!(types::PagedServiceInfoList),
        ),
        (
            "ClusterVersion",
            schemars::schema_for!(types::ClusterVersion),
        ),
        (
            "ApplicationTypeManifest",
            schemars::schema_for!(types::ApplicationTypeManifest),
        ),
        (
            "ServiceTypeManifest",
            schemars::schema_for!(types::ServiceTypeManifest),
        ),
    ];
    for (name, component) in components.iter() {
        if component["type"] == "object" {
            assert!(
                generated.iter().any(|(n, _)| n == name),
                "object schema {name} has no generated type checked here"
            );
        }
    }
    for (name, root) in generated {
        let root = serde_json::to_value(&root).expect("schema json");
        let defs = root["definitions"].clone();
        let gen_lookup = |n: &str| defs[n].clone();
        let spec_schema = &components[name];
        let mut ours = properties(&root, &gen_lookup);
        let mut theirs = properties(spec_schema, &spec_lookup);
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{name}: property names and types");
        assert_eq!(
            required(&root),
            required(spec_schema),
            "{name}: required set"
        );
    }
}

#[test]
fn the_spec_documents_the_gateway_departures() {
    let spec = spec();
    for path in [
        "/ImageStore/$/GetUploadSession",
        "/ImageStore/{contentPath}/$/GetUploadSession",
    ] {
        let r204 = &spec["paths"][path]["get"]["responses"]["204"];
        assert!(
            r204.is_object() && r204.get("content").is_none(),
            "{path}: 204 without a body"
        );
    }
    let codes = &spec["components"]["schemas"]["FabricErrorCodes"];
    let listed: Vec<&str> = codes["anyOf"]
        .as_array()
        .expect("anyOf")
        .iter()
        .flat_map(|b| b["enum"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        listed,
        ErrorCode::KNOWN,
        "ErrorCode is generated from the spec's lists"
    );
    assert!(
        codes["anyOf"]
            .as_array()
            .expect("anyOf")
            .iter()
            .any(|b| b["type"] == "string" && b.get("enum").is_none()),
        "the code set is open"
    );
    for p in spec["components"]["parameters"]
        .as_object()
        .expect("params")
        .values()
    {
        assert!(
            p["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{} has a description",
            p["name"]
        );
    }
}

#[test]
fn parameters_agree_with_the_published_spec_where_present() {
    let Some(dir) = shared_dir("official-spec") else {
        eprintln!("../shared/official-spec is not beside this clone: skipping the comparison");
        return;
    };
    let published: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("parameters.json")).expect("read"))
            .expect("json");
    let codes: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("definitions.json")).expect("read"))
            .expect("json");
    let published_codes = codes["definitions"]["FabricErrorCodes"]["enum"]
        .as_array()
        .expect("enum");
    assert_eq!(published_codes.len(), 85);
    assert!(
        published_codes
            .iter()
            .all(|c| ErrorCode::KNOWN.contains(&c.as_str().expect("code")))
    );
    let ours = spec()["components"]["parameters"].clone();
    for p in published["parameters"]
        .as_object()
        .expect("params")
        .values()
    {
        let Some(mine) = ours
            .as_object()
            .expect("params")
            .values()
            .find(|m| m["name"] == p["name"])
        else {
            continue; // neighbour-only parameters
        };
        assert_eq!(mine["in"], p["in"], "{}", p["name"]);
        assert_eq!(mine["required"], p["required"], "{}", p["name"]);
        for key in ["default", "minimum", "maximum", "format", "enum"] {
            if p.get(key).is_some() {
                assert_eq!(mine["schema"][key], p[key], "{} {key}", p["name"]);
            }
        }
        assert_eq!(
            mine.get("x-ms-skip-url-encoding"),
            p.get("x-ms-skip-url-encoding"),
            "{}",
            p["name"]
        );
    }
}

/// The lifecycle operations (application types, applications, upgrades, health, services):
/// same method and path as the published fragments, the same query and path parameters with
/// the same `in`, `required`, defaults, bounds and encoding, and the published examples'
/// responses decode through the generated types.
#[test]
fn lifecycle_operations_agree_with_the_published_spec_where_present() {
    let Some(dir) = shared_dir("official-spec") else {
        eprintln!("../shared/official-spec is not beside this clone: skipping the comparison");
        return;
    };
    let read = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.join("lifecycle").join(name)).expect("read"),
        )
        .expect("json")
    };
    let published_paths = read("paths.json");
    let published_params = read("parameters.json");
    let spec = spec();
    let resolve = |p: &Value| -> Value {
        match p["$ref"].as_str() {
            Some(r) => {
                spec["components"]["parameters"][r.rsplit('/').next().expect("name")].clone()
            }
            None => p.clone(),
        }
    };
    let mut compared = 0;
    for (path, methods) in published_paths["paths"].as_object().expect("paths") {
        for (method, published) in methods.as_object().expect("methods") {
            let id = published["operationId"].as_str().expect("operationId");
            if id == "GetApplicationHealthUsingPolicy" {
                continue; // not in this crate: GetApplicationHealth covers the reads
            }
            let ours = &spec["paths"][path][method];
            assert_eq!(ours["operationId"], id, "{method} {path}");
            let our_params: Vec<Value> = ours["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(resolve)
                .collect();
            for p in published["parameters"].as_array().expect("parameters") {
                let name = p["$ref"]
                    .as_str()
                    .expect("$ref")
                    .rsplit('/')
                    .next()
                    .expect("name");
                let p = &published_params["parameters"][name];
                if p["in"] == "body" {
                    assert!(ours["requestBody"].is_object(), "{id}: body {name}");
                    continue;
                }
                let mine = our_params
                    .iter()
                    .find(|m| m["name"] == p["name"])
                    .unwrap_or_else(|| panic!("{id}: parameter {}", p["name"]));
                assert_eq!(mine["in"], p["in"], "{id} {}", p["name"]);
                assert_eq!(
                    mine["required"].as_bool().unwrap_or(false),
                    p["required"].as_bool().unwrap_or(false),
                    "{id} {}",
                    p["name"]
                );
                for key in ["default", "minimum", "maximum", "enum"] {
                    if p.get(key).is_some() {
                        assert_eq!(mine["schema"][key], p[key], "{id} {} {key}", p["name"]);
                    }
                }
                assert_eq!(
                    mine.get("x-ms-skip-url-encoding"),
                    p.get("x-ms-skip-url-encoding"),
                    "{id} {}",
                    p["name"]
                );
            }
            let published_codes: Vec<&String> = published["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter(|k| *k != "default")
                .collect();
            for code in published_codes {
                assert!(ours["responses"][code].is_object(), "{id}: response {code}");
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 14, "every published lifecycle operation but one");

    // The published examples decode through the generated types.
    let example = read("examples/GetApplicationUpgrade.json");
    let body = &example["responses"]["200"]["body"];
    let decoded: types::ApplicationUpgradeProgressInfo =
        serde_json::from_value(body.clone()).expect("GetApplicationUpgrade example");
    assert_eq!(decoded.rolling_upgrade_mode.as_deref(), Some("Invalid"));
    let example = read("examples/GetApplicationTypeInfoListByName.json");
    let _: types::PagedApplicationTypeInfoList =
        serde_json::from_value(example["responses"]["200"]["body"].clone())
            .expect("GetApplicationTypeInfoListByName example");
    let example = read("examples/GetApplicationInfoByName-1.json");
    let _: types::ApplicationInfo =
        serde_json::from_value(example["responses"]["200"]["body"].clone())
            .expect("GetApplicationInfo example");
}
