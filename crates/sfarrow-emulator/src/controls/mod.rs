//! The test-control surface of a running org: seeding, custom objects and fields, loading data,
//! token lifetime, API allowance, fault injection and the request log.

use crate::data::schema::{FieldDef, ObjectBuilder};
use crate::server::control::{FaultKind, FaultRule, LogEntry};
use crate::Org;
use serde_json::Value as Json;
use sfarrow_soql::types::FieldType;
use std::time::Duration;

mod events;

/// A fault to inject; see `control::FaultRule` for when it fires.
#[derive(Debug, Clone, Default)]
pub struct FaultSpec {
    pub kind: String,
    pub nth: Option<u64>,
    pub rate: Option<f64>,
    pub path: Option<String>,
    pub delay: Duration,
    pub times: Option<u64>,
}

/// A field definition from its describe-style JSON: `{"name": "Tier__c", "type": "picklist",
/// "picklistValues": ["Gold"], "length": 80, "externalId": true, "unique": true, "required": true,
/// "referenceTo": "Account", "relationshipName": "Account__r", "childRelationship": "Invoices__r",
/// "precision": 18, "scale": 2, "default": "Gold", "label": "Tier"}`.
pub fn field_from_json(spec: &Json) -> Result<FieldDef, String> {
    let s = |k: &str| spec.get(k).and_then(Json::as_str);
    let n = |k: &str| spec.get(k).and_then(Json::as_u64).map(|v| v as u32);
    let b = |k: &str| spec.get(k).and_then(Json::as_bool);
    let name = s("name").ok_or("a field needs a \"name\"")?;
    if !name.ends_with("__c") {
        return Err(format!("custom field names end with __c: {name:?}"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.contains("___") {
        return Err(format!("{name:?} is not a valid field name"));
    }
    let type_name = s("type").ok_or_else(|| format!("field {name} needs a \"type\""))?;
    let ftype = FieldType::from_name(type_name).ok_or_else(|| {
        let all: Vec<&str> = FieldType::all().map(FieldType::name).collect();
        format!(
            "field {name}: unknown type {type_name:?}; one of {}",
            all.join(", ")
        )
    })?;
    if matches!(
        ftype,
        FieldType::Id | FieldType::Address | FieldType::Location
    ) {
        return Err(format!(
            "field {name}: type {type_name} cannot be defined this way"
        ));
    }
    let mut f = FieldDef::new(name, ftype);
    if let Some(l) = n("length") {
        f.length = l;
    }
    if let Some(p) = n("precision") {
        f.precision = p;
    }
    if let Some(sc) = n("scale") {
        f.scale = sc;
    }
    if let Some(label) = s("label") {
        f.label = label.into();
    }
    if b("externalId") == Some(true) {
        if !ftype.is_text() && !ftype.is_numeric() {
            return Err(format!(
                "field {name}: only text and number fields can be external ids"
            ));
        }
        f.external_id = true;
        f.id_lookup = true;
    }
    f.unique = b("unique").unwrap_or(false);
    if b("required") == Some(true) {
        f.nillable = false;
    }
    if let Some(values) = spec.get("picklistValues").and_then(Json::as_array) {
        f.picklist_values = values
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
    }
    f.restricted_picklist = b("restrictedPicklist").unwrap_or(false);
    f.default = s("default").map(String::from);
    if f.default.is_some() {
        f.defaulted_on_create = true;
    }
    if ftype == FieldType::Reference {
        let to = s("referenceTo")
            .ok_or_else(|| format!("reference field {name} needs \"referenceTo\""))?;
        f.reference_to = vec![to.into()];
        let stem = name.trim_end_matches("__c");
        f.relationship_name = Some(
            s("relationshipName")
                .map(String::from)
                .unwrap_or_else(|| format!("{stem}__r")),
        );
        f.child_relationship = s("childRelationship").map(String::from);
    }
    Ok(f)
}

impl Org {
    pub fn seed(&self, object: &str, count: usize) -> Result<usize, String> {
        crate::fixtures::seed::seed(&mut self.state.store.write(), object, count)
    }

    pub fn count(&self, object: &str, include_deleted: bool) -> Result<usize, String> {
        let store = self.state.store.read();
        let t = store
            .table(object)
            .ok_or_else(|| format!("the org has no object named {object:?}"))?;
        Ok(t.live_count(include_deleted))
    }

    pub fn define_object(
        &self,
        name: &str,
        label: Option<&str>,
        fields: &[Json],
    ) -> Result<(), String> {
        if !name.ends_with("__c") || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "custom object names end with __c and use letters, digits and _: {name:?}"
            ));
        }
        let mut store = self.state.store.write();
        if store.table_index(name).is_some() {
            return Err(format!("the org already has an object named {name}"));
        }
        let defs = fields
            .iter()
            .map(field_from_json)
            .collect::<Result<Vec<_>, _>>()?;
        for f in &defs {
            check_reference_target(&store, f)?;
        }
        let n = store.tables.iter().filter(|t| t.def.custom).count();
        let prefix = format!("a0{}", (b'A' + (n % 26) as u8) as char);
        let stem = name.trim_end_matches("__c").replace('_', " ");
        let label = label.map(String::from).unwrap_or(stem);
        let mut b =
            ObjectBuilder::new(name, &label, &format!("{label}s"), &prefix, true).field(FieldDef {
                length: 80,
                name_field: true,
                ..FieldDef::new("Name", FieldType::String)
            });
        for f in defs {
            if b.has_field(&f.name) {
                return Err(format!("field {} is defined twice", f.name));
            }
            b = b.field(f);
        }
        store.add_object(b.build());
        Ok(())
    }

    pub fn define_field(&self, object: &str, spec: &Json) -> Result<(), String> {
        let f = field_from_json(spec)?;
        let mut store = self.state.store.write();
        check_reference_target(&store, &f)?;
        let t = store
            .table_index(object)
            .ok_or_else(|| format!("the org has no object named {object:?}"))?;
        let table = &mut store.tables[t];
        if table.def.field_index(&f.name).is_some() {
            return Err(format!("{object} already has a field named {}", f.name));
        }
        table.def.fields.push(f);
        table.reindex_schema();
        store.schema_modified = crate::data::store::now_millis();
        Ok(())
    }

    pub fn load(
        &self,
        object: &str,
        batches: &[arrow_array::RecordBatch],
    ) -> Result<Vec<String>, String> {
        crate::fixtures::load::load(&mut self.state.store.write(), object, batches)
    }

    /// Writes records as a transaction that began `age` ago and commits now: their
    /// `SystemModstamp` and `LastModifiedDate` (and `CreatedDate`, for new ones) are `age` in
    /// the past, as an org stamps a long transaction's records with the time it began. Records
    /// with an `Id` are updated, others inserted; returns their ids in order.
    pub fn commit_late(
        &self,
        object: &str,
        records: &[Json],
        age: Duration,
    ) -> Result<Vec<String>, String> {
        let mut store = self.state.store.write();
        let table = store
            .table_index(object)
            .ok_or_else(|| format!("the org has no object named {object:?}"))?;
        let stamp = crate::data::store::now_millis()
            - i64::try_from(age.as_millis()).unwrap_or(i64::MAX / 2);
        let mut ids = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let fail =
                |e: crate::data::value::DmlError| format!("record {i}: {}: {}", e.code, e.message);
            let body = r
                .as_object()
                .ok_or_else(|| format!("record {i} is not an object"))?;
            let values = crate::data::dml::fields_from_json(&store, table, body).map_err(fail)?;
            let id = body
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("id"))
                .and_then(|(_, v)| v.as_str());
            match id {
                Some(id) => {
                    let row = store.resolve_id(table, id).map_err(fail)?;
                    store.update_at(table, row, values, stamp).map_err(fail)?;
                    ids.push(store.tables[table].rows[row as usize].id().to_string());
                }
                None => {
                    let (id, _) = store.insert_at(table, values, stamp, stamp).map_err(fail)?;
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// The next Bulk ingest jobs to close fail as a whole with `message` as their
    /// `errorMessage` (as an org fails a job whose file it cannot take), none of their rows
    /// processed.
    pub fn fail_ingest_jobs(&self, message: &str, times: usize) {
        self.state
            .ingest_failures
            .lock()
            .extend(std::iter::repeat_n(message.to_string(), times));
    }

    /// The next `times` writes to each of `ids` fail with `UNABLE_TO_LOCK_ROW`, as while
    /// another transaction holds the records (0 releases them).
    pub fn lock_records(&self, ids: &[String], times: u32) {
        let mut store = self.state.store.write();
        for id in ids {
            store.locks.hold(id, times);
        }
    }

    /// Every access token issued so far expires now.
    pub fn expire_sessions(&self) {
        self.state.auth.lock().expire_sessions();
    }

    pub fn set_token_lifetime(&self, lifetime: Option<Duration>) {
        self.state.auth.lock().token_lifetime = lifetime;
    }

    pub fn set_refresh_token_rotation(&self, rotate: bool) {
        self.state.auth.lock().rotate_refresh_tokens = rotate;
    }

    pub fn set_api_limit(&self, max: u64, used: u64) {
        let mut c = self.state.usage.lock();
        c.api_max = max;
        c.api_used = used;
    }

    pub fn api_usage(&self) -> (u64, u64) {
        let c = self.state.usage.lock();
        (c.api_used, c.api_max)
    }

    pub fn add_redirect_uri(&self, uri: &str) {
        let mut auth = self.state.auth.lock();
        for app in &mut auth.apps {
            if !app.redirect_uris.iter().any(|u| u == uri) {
                app.redirect_uris.push(uri.into());
            }
        }
    }

    pub fn inject_fault(&self, spec: FaultSpec) -> Result<(), String> {
        let kind = FaultKind::from_name(&spec.kind).ok_or_else(|| {
            format!(
                "unknown fault {:?}; one of \"503\", \"429\", \"drop\", \"drop_after\", \"truncate\", \"short_page\", \"lost_rows\", \"delay\"",
                spec.kind
            )
        })?;
        if spec.rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            return Err("rate is a probability between 0 and 1".into());
        }
        if spec.nth == Some(0) {
            return Err("nth counts from 1".into());
        }
        let mut rule = FaultRule::new(kind);
        rule.nth = spec.nth;
        rule.rate = spec.rate;
        rule.path = spec.path;
        rule.delay = spec.delay;
        rule.times = spec.times;
        self.server.control.lock().faults.push(rule);
        Ok(())
    }

    pub fn clear_faults(&self) {
        self.server.control.lock().faults.clear();
    }

    pub fn requests(&self) -> Vec<LogEntry> {
        self.server.control.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        let mut control = self.server.control.lock();
        control.log.clear();
        control.struck.clear();
    }

    /// The faults that struck since the log was last cleared, by name, oldest first.
    pub fn faults_struck(&self) -> Vec<&'static str> {
        self.server.control.lock().struck.clone()
    }
}

fn check_reference_target(store: &crate::data::store::Store, f: &FieldDef) -> Result<(), String> {
    for target in &f.reference_to {
        if store.table_index(target).is_none() {
            return Err(format!(
                "field {}: referenceTo names no object: {target}",
                f.name
            ));
        }
    }
    Ok(())
}
