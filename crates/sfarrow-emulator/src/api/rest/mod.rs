//! The REST API: discovery (`/services/data/`, the resource list, `/limits`), describe, records
//! one at a time, and SOQL queries with their cursors.

pub mod cursors;
pub mod describe;
pub mod query;
pub mod records;
pub mod tooling;

use crate::api::answer::{Answer, Caller};
use crate::api::state::{OrgState, MAX_VERSION, MIN_VERSION};
use crate::http::{ApiError, Req, Resp};
use serde_json::json;

const RELEASES: [&str; 3] = ["Winter", "Spring", "Summer"];

/// `GET /services/data/`: every version, ascending; no session needed.
pub fn versions(req: &Req) -> Answer {
    if req.method != "GET" {
        return Err(ApiError::method_not_allowed(&req.method));
    }
    let list: Vec<_> = (MIN_VERSION..=MAX_VERSION)
        .map(|v| {
            // v20.0 was Winter '11; three releases a year.
            let n = v - 20;
            let season = RELEASES[(n % 3) as usize];
            let year = 11 + n / 3;
            json!({"label": format!("{season} '{year:02}"), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")})
        })
        .collect();
    Ok(Resp::json(200, &json!(list)))
}

pub fn resources(req: &Req, caller: &Caller, version: &str) -> Answer {
    let base = format!("/services/data/v{version}");
    let mut map = serde_json::Map::new();
    for name in [
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "chatter",
        "tabs",
        "appMenu",
        "quickActions",
        "queryAll",
        "commerce",
        "wave",
        "analytics",
        "search",
        "identity",
        "composite",
        "parameterizedSearch",
        "theme",
        "nouns",
        "recent",
        "licensing",
        "limits",
        "process",
        "async-queries",
        "query",
        "jobs",
        "match",
        "emailConnect",
        "compactLayouts",
        "knowledgeManagement",
        "sobjects",
        "actions",
        "support",
    ] {
        map.insert(name.into(), json!(format!("{base}/{name}")));
    }
    map.insert(
        "identity".into(),
        json!(format!(
            "{}/id/{}/{}",
            req.base, caller.org_id, caller.user_id
        )),
    );
    Ok(Resp::json(200, &serde_json::Value::Object(map)))
}

pub fn limits(state: &OrgState, version: &str) -> Answer {
    let c = state.usage.lock();
    let remaining = c.api_max.saturating_sub(c.api_used);
    let entry = |max: u64, remaining: u64| json!({"Max": max, "Remaining": remaining});
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let mut body = json!({
            "DailyApiRequests": entry(c.api_max, remaining),
            "DailyBulkApiBatches": entry(15_000, 15_000u64.saturating_sub(c.bulk_batches)),
            "DailyBulkV2QueryJobs": entry(10_000, 10_000u64.saturating_sub(c.bulk_query_jobs)),
            "DailyBulkV2QueryFileStorageMB": entry(1_048_576, 1_048_576),
            "DailyAsyncApexExecutions": entry(250_000, 250_000),
            "DataStorageMB": entry(5_120, 5_000),
            "FileStorageMB": entry(20_480, 20_480),
            "ConcurrentAsyncGetReportInstances": entry(200, 200),
            "HourlyPublishedPlatformEvents": entry(250_000, 250_000),
            "DailyDeliveredPlatformEvents": entry(50_000, 50_000),
    });
    // The names and entries each version knows (§2.2).
    if let serde_json::Value::Object(m) = &mut body {
        if major <= 48 {
            if let Some(v) = m.remove("DailyBulkApiBatches") {
                m.insert("DailyBulkApiRequests".into(), v);
            }
        }
        if major < 47 {
            m.remove("DailyBulkV2QueryJobs");
            m.remove("DailyBulkV2QueryFileStorageMB");
        }
    }
    Ok(Resp::json(200, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels() {
        let req = Req {
            method: "GET".into(),
            path: "/services/data".into(),
            query: String::new(),
            headers: Default::default(),
            body: Default::default(),
            base: "http://x".into(),
        };
        let v: serde_json::Value = serde_json::from_slice(&versions(&req).unwrap().body).unwrap();
        assert_eq!(v[0]["label"], "Winter '11");
        assert_eq!(v[0]["version"], "20.0");
        let v58 = v
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["version"] == "58.0")
            .unwrap();
        assert_eq!(v58["label"], "Summer '23");
        let v66 = v.as_array().unwrap().last().unwrap();
        assert_eq!(v66["label"], "Spring '26");
    }
}
