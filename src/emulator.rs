//! `Emulator`: a running local Salesforce org, driven from Python (see `sfarrow.testing.Org`).

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyRecordBatch;
use sfarrow_emulator::FaultSpec;
use sfarrow_emulator::{Config, Org};
use std::time::Duration;

#[pyclass(module = "sfarrow._sfarrow", frozen)]
pub struct Emulator {
    org: parking_lot::Mutex<Option<Org>>,
    identity: sfarrow_emulator::Identity,
}

fn value_error(e: String) -> PyErr {
    PyValueError::new_err(e)
}

fn seconds(s: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds, got {s}"
        ))
    })
}

impl Emulator {
    fn with_org<T>(&self, f: impl FnOnce(&Org) -> T) -> PyResult<T> {
        let guard = self.org.lock();
        let org = guard
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("the emulator has been stopped"))?;
        Ok(f(org))
    }
}

#[pymethods]
impl Emulator {
    #[new]
    #[pyo3(signature = (*, host, port, https, https_port, redirect_uris, job_latency, cursor_idle, bulk_page_size, pubsub, pubsub_port, pubsub_plain_port, pubsub_keepalive, event_retention))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        https: bool,
        https_port: u16,
        redirect_uris: Option<Vec<String>>,
        job_latency: f64,
        cursor_idle: f64,
        bulk_page_size: usize,
        pubsub: bool,
        pubsub_port: u16,
        pubsub_plain_port: u16,
        pubsub_keepalive: f64,
        event_retention: f64,
    ) -> PyResult<Self> {
        if bulk_page_size == 0 {
            return Err(PyValueError::new_err("bulk_page_size must be at least 1"));
        }
        let mut config = Config {
            host: host.into(),
            port,
            https_port: https.then_some(https_port),
            job_latency: seconds(job_latency, "job_latency")?,
            cursor_idle: seconds(cursor_idle, "cursor_idle")?,
            bulk_page_size,
            pubsub_port: pubsub.then_some(pubsub_port),
            pubsub_plain_port: pubsub.then_some(pubsub_plain_port),
            pubsub_keepalive: seconds(pubsub_keepalive, "pubsub_keepalive")?,
            event_retention: seconds(event_retention, "event_retention")?,
            ..Config::default()
        };
        if let Some(uris) = redirect_uris {
            config.redirect_uris = uris;
        }
        let org = py
            .detach(|| Org::start(config))
            .map_err(PyRuntimeError::new_err)?;
        let identity = org.identity.clone();
        Ok(Emulator {
            org: parking_lot::Mutex::new(Some(org)),
            identity,
        })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.identity.url
    }
    #[getter]
    fn https_url(&self) -> Option<&str> {
        self.identity.https_url.as_deref()
    }
    #[getter]
    fn ca_pem(&self) -> Option<&str> {
        self.identity.ca_pem.as_deref()
    }
    #[getter]
    fn pubsub_url(&self) -> Option<&str> {
        self.identity.pubsub_url.as_deref()
    }
    #[getter]
    fn pubsub_plain_url(&self) -> Option<&str> {
        self.identity.pubsub_plain_url.as_deref()
    }
    #[getter]
    fn org_id(&self) -> &str {
        &self.identity.org_id
    }
    #[getter]
    fn user_id(&self) -> &str {
        &self.identity.user_id
    }
    #[getter]
    fn username(&self) -> &str {
        &self.identity.username
    }
    #[getter]
    fn client_id(&self) -> &str {
        &self.identity.client_id
    }
    #[getter]
    fn client_secret(&self) -> &str {
        &self.identity.client_secret
    }
    #[getter]
    fn private_key_pem(&self) -> &str {
        &self.identity.private_key_pem
    }
    #[getter]
    fn public_key_pem(&self) -> &str {
        &self.identity.public_key_pem
    }
    #[getter]
    fn certificate_pem(&self) -> &str {
        &self.identity.certificate_pem
    }
    #[getter]
    fn access_token(&self) -> &str {
        &self.identity.access_token
    }
    #[getter]
    fn running(&self) -> bool {
        self.org.lock().is_some()
    }

    fn seed(&self, py: Python<'_>, object: &str, count: usize) -> PyResult<usize> {
        py.detach(|| self.with_org(|o| o.seed(object, count)))?
            .map_err(value_error)
    }

    fn count(&self, object: &str, include_deleted: bool) -> PyResult<usize> {
        self.with_org(|o| o.count(object, include_deleted))?
            .map_err(value_error)
    }

    /// `fields_json`: a JSON array of field definitions (see `admin::field_from_json`).
    fn define_object(&self, name: &str, fields_json: &str, label: Option<&str>) -> PyResult<()> {
        let fields: Vec<serde_json::Value> = serde_json::from_str(fields_json)
            .map_err(|e| PyValueError::new_err(format!("fields must be a list of dicts: {e}")))?;
        self.with_org(|o| o.define_object(name, label, &fields))?
            .map_err(value_error)
    }

    fn define_field(&self, object: &str, field_json: &str) -> PyResult<()> {
        let spec: serde_json::Value = serde_json::from_str(field_json)
            .map_err(|e| PyValueError::new_err(format!("field must be a dict: {e}")))?;
        self.with_org(|o| o.define_field(object, &spec))?
            .map_err(value_error)
    }

    /// Inserts the rows of any Arrow stream or batch; returns their new ids.
    fn load(&self, py: Python<'_>, object: &str, data: AnyRecordBatch) -> PyResult<Vec<String>> {
        let reader = data.into_reader()?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PyValueError::new_err(format!("could not read the data: {e}")))?;
        py.detach(|| self.with_org(|o| o.load(object, &batches)))?
            .map_err(value_error)
    }

    /// `records_json`: a JSON array of records (with `Id`: updated; without: inserted), written
    /// as a transaction that began `age` seconds ago.
    fn commit_late(&self, object: &str, records_json: &str, age: f64) -> PyResult<Vec<String>> {
        let records: Vec<serde_json::Value> = serde_json::from_str(records_json)
            .map_err(|e| PyValueError::new_err(format!("records must be a list of dicts: {e}")))?;
        let age = seconds(age, "age")?;
        self.with_org(|o| o.commit_late(object, &records, age))?
            .map_err(value_error)
    }

    fn fail_ingest_jobs(&self, message: &str, times: usize) -> PyResult<()> {
        self.with_org(|o| o.fail_ingest_jobs(message, times))
    }

    fn lock_records(&self, ids: Vec<String>, times: u32) -> PyResult<()> {
        self.with_org(|o| o.lock_records(&ids, times))
    }

    fn expire_sessions(&self) -> PyResult<()> {
        self.with_org(|o| o.expire_sessions())
    }

    fn set_token_lifetime(&self, seconds_: Option<f64>) -> PyResult<()> {
        let d = seconds_.map(|s| seconds(s, "token lifetime")).transpose()?;
        self.with_org(|o| o.set_token_lifetime(d))
    }

    fn set_refresh_token_rotation(&self, rotate: bool) -> PyResult<()> {
        self.with_org(|o| o.set_refresh_token_rotation(rotate))
    }

    fn set_api_limit(&self, max: u64, used: u64) -> PyResult<()> {
        self.with_org(|o| o.set_api_limit(max, used))
    }

    fn api_usage(&self) -> PyResult<(u64, u64)> {
        self.with_org(|o| o.api_usage())
    }

    fn add_redirect_uri(&self, uri: &str) -> PyResult<()> {
        self.with_org(|o| o.add_redirect_uri(uri))
    }

    #[pyo3(signature = (kind, *, nth, rate, path, delay, times))]
    fn inject_fault(
        &self,
        kind: &str,
        nth: Option<u64>,
        rate: Option<f64>,
        path: Option<String>,
        delay: f64,
        times: Option<u64>,
    ) -> PyResult<()> {
        let spec = FaultSpec {
            kind: kind.into(),
            nth,
            rate,
            path,
            delay: seconds(delay, "delay")?,
            times,
        };
        self.with_org(|o| o.inject_fault(spec))?
            .map_err(value_error)
    }

    fn clear_faults(&self) -> PyResult<()> {
        self.with_org(|o| o.clear_faults())
    }

    /// The request log, oldest first, as dicts.
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let log = self.with_org(|o| o.requests())?;
        log.into_iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("method", e.method)?;
                d.set_item("path", e.path)?;
                d.set_item("query", e.query)?;
                d.set_item("status", e.status)?;
                let headers = PyDict::new(py);
                for (k, v) in e.headers {
                    headers.set_item(k, v)?;
                }
                d.set_item("headers", headers)?;
                d.set_item("grant_type", e.grant_type)?;
                d.set_item("fault", e.fault)?;
                d.set_item("time", e.at_millis as f64 / 1000.0)?;
                Ok(d)
            })
            .collect()
    }

    fn clear_requests(&self) -> PyResult<()> {
        self.with_org(|o| o.clear_requests())
    }

    fn faults_struck(&self) -> PyResult<Vec<&'static str>> {
        self.with_org(|o| o.faults_struck())
    }

    /// `fields_json`: a JSON array of custom field definitions, as for `define_object`.
    fn define_event(&self, name: &str, fields_json: &str) -> PyResult<()> {
        let fields: Vec<serde_json::Value> = serde_json::from_str(fields_json)
            .map_err(|e| PyValueError::new_err(format!("fields must be a list of dicts: {e}")))?;
        self.with_org(|o| o.define_event(name, &fields))?
            .map_err(value_error)
    }

    fn select_change_events(&self, objects: Vec<String>) -> PyResult<()> {
        self.with_org(|o| o.select_change_events(&objects))?
            .map_err(value_error)
    }

    fn change_events_selected(&self) -> PyResult<Vec<String>> {
        self.with_org(|o| o.change_events_selected())
    }

    fn expire_events(&self, age: f64) -> PyResult<()> {
        let age = seconds(age, "age")?;
        self.with_org(|o| o.expire_events(age))
    }

    fn publish_gap(&self, object: &str, change_type: &str, ids: Vec<String>) -> PyResult<()> {
        self.with_org(|o| o.publish_gap(object, change_type, &ids))?
            .map_err(value_error)
    }

    fn set_overflow_threshold(&self, changes: u64) -> PyResult<()> {
        self.with_org(|o| o.set_overflow_threshold(changes))
    }

    fn lose_change_events(&self, events: u64) -> PyResult<()> {
        self.with_org(|o| o.lose_change_events(events))
    }

    fn set_pubsub_keepalive(&self, every: f64) -> PyResult<()> {
        let every = seconds(every, "keepalive")?;
        self.with_org(|o| o.set_pubsub_keepalive(every))
    }

    fn inject_pubsub_fault(&self, kind: &str, after_events: u64, times: u64) -> PyResult<()> {
        self.with_org(|o| o.inject_pubsub_fault(kind, after_events, times))?
            .map_err(value_error)
    }

    fn clear_pubsub_faults(&self) -> PyResult<()> {
        self.with_org(|o| o.clear_pubsub_faults())
    }

    fn event_count(&self) -> PyResult<usize> {
        self.with_org(|o| o.event_count())
    }

    /// Stops the server; the emulator cannot be restarted.
    fn stop(&self, py: Python<'_>) {
        let org = self.org.lock().take();
        py.detach(move || drop(org));
    }

    fn __repr__(&self) -> String {
        // Credentials stay out of the repr.
        format!(
            "Emulator(url={:?}, https_url={:?}, running={})",
            self.identity.url,
            self.identity.https_url,
            self.running()
        )
    }
}
