//! What the client needs from sObject describe: field names, types, numeric precision,
//! relationships and compound components. Fetched once per object per connection.

use crate::client::{Client, Error, Request, Result};
use parking_lot::Mutex;
use sfarrow_soql::types::FieldType;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub name: String,
    pub ftype: FieldType,
    pub precision: u32,
    pub scale: u32,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
    pub compound_field_name: Option<String>,
    pub createable: bool,
    pub updateable: bool,
    /// Usable as an upsert key or a parent reference key.
    pub external_id: bool,
    pub id_lookup: bool,
}

#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub name: String,
    pub fields: Vec<FieldInfo>,
    /// (relationship name, child object)
    pub children: Vec<(String, String)>,
}

impl ObjectInfo {
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn relationship(&self, rel: &str) -> Option<&FieldInfo> {
        self.fields.iter().find(|f| {
            f.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(rel))
        })
    }

    /// The components of a compound field, in describe order.
    pub fn components(&self, compound: &str) -> Vec<&FieldInfo> {
        self.fields
            .iter()
            .filter(|f| {
                f.compound_field_name
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(compound))
            })
            .collect()
    }

    pub fn from_json(v: &serde_json::Value) -> Result<ObjectInfo> {
        let bad = || Error::protocol("describe without name/fields");
        let name = v
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or_else(bad)?
            .to_string();
        let mut fields = Vec::new();
        for f in v.get("fields").and_then(|f| f.as_array()).ok_or_else(bad)? {
            let s = |k: &str| f.get(k).and_then(|x| x.as_str()).map(String::from);
            let n = |k: &str| f.get(k).and_then(|x| x.as_u64()).unwrap_or(0) as u32;
            let b = |k: &str| f.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
            let Some(fname) = s("name") else { continue };
            let type_name = s("type").unwrap_or_default();
            // Types this client does not know (complexvalue, ...) read as text.
            let ftype = FieldType::from_name(&type_name).unwrap_or(FieldType::AnyType);
            fields.push(FieldInfo {
                name: fname,
                ftype,
                precision: n("precision"),
                scale: n("scale"),
                reference_to: f
                    .get("referenceTo")
                    .and_then(|r| r.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                relationship_name: s("relationshipName"),
                compound_field_name: s("compoundFieldName"),
                createable: b("createable"),
                updateable: b("updateable"),
                external_id: b("externalId"),
                id_lookup: b("idLookup"),
            });
        }
        let children = v
            .get("childRelationships")
            .and_then(|c| c.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        Some((
                            c.get("relationshipName")?.as_str()?.to_string(),
                            c.get("childSObject")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ObjectInfo {
            name,
            fields,
            children,
        })
    }
}

/// An object or field API name (`Account`, `Invoice__c`, `ns__Thing__c`): a letter, then letters,
/// digits and underscores. Names are pasted into URL paths, so nothing else gets that far.
pub fn check_api_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255;
    if ok {
        return Ok(());
    }
    let shown: String = name.chars().take(60).collect();
    Err(Error::config(format!(
        "{shown:?} is not a Salesforce API name (a letter, then letters, digits and underscores, like Account or Invoice__c)"
    )))
}

/// Describes fetched through one connection, kept for its lifetime; `revalidate` asks the
/// server whether one changed (a conditional GET, answered 304 when it did not).
#[derive(Default)]
pub struct DescribeCache {
    objects: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    info: Arc<ObjectInfo>,
    /// The server's `Date` when the describe was fetched: the next `If-Modified-Since`.
    fetched: Option<String>,
}

impl DescribeCache {
    pub async fn get(&self, client: &Client, object: &str) -> Result<Arc<ObjectInfo>> {
        check_api_name(object)?;
        if let Some(o) = self.objects.lock().get(&object.to_ascii_lowercase()) {
            return Ok(o.info.clone());
        }
        self.fetch(client, object, None).await
    }

    /// The describe as it is now on the server: fields added since it was cached show up.
    pub async fn revalidate(&self, client: &Client, object: &str) -> Result<Arc<ObjectInfo>> {
        let since = self
            .objects
            .lock()
            .get(&object.to_ascii_lowercase())
            .and_then(|c| c.fetched.clone());
        self.fetch(client, object, since).await
    }

    async fn fetch(
        &self,
        client: &Client,
        object: &str,
        since: Option<String>,
    ) -> Result<Arc<ObjectInfo>> {
        check_api_name(object)?;
        let key = object.to_ascii_lowercase();
        let mut req = Request::get(format!("sobjects/{object}/describe"));
        if let Some(date) = since {
            req.headers.push(("if-modified-since", date));
        }
        let v = client.send(req).await.map_err(|e| match e {
            Error::Api { status: 404, .. } => Error::Api {
                status: 404,
                code: "INVALID_TYPE".into(),
                message: format!(
                    "sObject type '{object}' is not supported (describe found no such object)"
                ),
                fields: Vec::new(),
            },
            other => other,
        })?;
        if v.status == 304 {
            if let Some(c) = self.objects.lock().get(&key) {
                return Ok(c.info.clone());
            }
            return Err(Error::protocol(
                "describe answered 304 to a request that was not conditional",
            ));
        }
        let fetched = v
            .headers
            .get("date")
            .and_then(|d| d.to_str().ok())
            .map(String::from);
        let info = Arc::new(ObjectInfo::from_json(&v.json()?)?);
        self.objects.lock().insert(
            key,
            Cached {
                info: info.clone(),
                fetched,
            },
        );
        Ok(info)
    }
}
