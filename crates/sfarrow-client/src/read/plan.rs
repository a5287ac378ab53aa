//! From SOQL to a read plan: the Arrow schema (from describe, never from the data), where each
//! column's values are in a REST record and in a Bulk CSV page, and the SOQL each API runs
//! (Bulk selects the components of compound fields and the struct is rebuilt).

use crate::client::{Client, Error, Result};
use crate::schema::describe::{DescribeCache, FieldInfo, ObjectInfo};
use crate::schema::types::{compound_fields, scalar_type};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use sfarrow_soql::soql::{self, FieldPath, Query, SelectItem};
use sfarrow_soql::types::FieldType;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Column {
    /// A field, maybe through parents: `key` is its dotted path of REST JSON keys.
    Scalar { key: String },
    /// An address or location: a struct of components (JSON key, dotted Bulk CSV column).
    Compound {
        key: String,
        parts: Vec<(String, String)>,
    },
    /// A child subquery: `key` holds `{"records": [...]}` (REST only).
    Children { key: String },
}

#[derive(Debug)]
pub struct ReadPlan {
    pub object: String,
    pub columns: Vec<Column>,
    pub schema: SchemaRef,
    pub rest_soql: String,
    /// `None` when Bulk API 2.0 cannot run the query.
    pub bulk_soql: Option<String>,
    pub bulk_unsupported: Option<&'static str>,
    /// `SELECT COUNT() FROM ... WHERE ...`: for the automatic API choice.
    pub count_soql: String,
    pub limit: Option<u64>,
    pub count_only: bool,
    pub aggregate: bool,
    pub text_hints: super::column::TextHints,
}

impl ReadPlan {
    /// A plan over given columns, without describe or SOQL: for decoder tests and fuzzing.
    #[cfg(any(test, feature = "internals"))]
    pub(crate) fn fixed(columns: Vec<Column>, schema: Schema) -> ReadPlan {
        ReadPlan {
            object: "Account".into(),
            columns,
            schema: Arc::new(schema),
            rest_soql: String::new(),
            bulk_soql: None,
            bulk_unsupported: None,
            count_soql: String::new(),
            limit: None,
            count_only: false,
            aggregate: false,
            text_hints: Default::default(),
        }
    }
}

fn invalid_field(object: &str, name: &str) -> Error {
    Error::Api {
        status: 400,
        code: "INVALID_FIELD".into(),
        message: format!("No such column '{name}' on entity '{object}' (according to describe)"),
        fields: Vec::new(),
    }
}

struct Resolved {
    /// Canonical dotted path (`Owner.Name`).
    key: String,
    /// The relationship part with a trailing dot, for prefixing compound components.
    prefix: String,
    object: Arc<ObjectInfo>,
    field: FieldInfo,
}

async fn resolve(
    client: &Client,
    cache: &DescribeCache,
    root: &Arc<ObjectInfo>,
    path: &FieldPath,
    alias: Option<&str>,
) -> Result<Resolved> {
    let mut segs: &[String] = &path.0;
    if segs.len() > 1
        && root.relationship(&segs[0]).is_none()
        && (segs[0].eq_ignore_ascii_case(&root.name)
            || alias.is_some_and(|a| a.eq_ignore_ascii_case(&segs[0])))
    {
        segs = &segs[1..];
    }
    let mut obj = root.clone();
    let mut prefix = String::new();
    for rel in &segs[..segs.len().saturating_sub(1)] {
        let f = obj
            .relationship(rel)
            .ok_or_else(|| invalid_field(&obj.name, rel))?
            .clone();
        let last = segs.last().map(String::as_str).unwrap_or("");
        // Polymorphic parents (Owner: Group or User): the first target that has the next field.
        let mut target = None;
        for t in &f.reference_to {
            let d = cache.get(client, t).await?;
            if target.is_none() || d.field(last).is_some() || d.relationship(last).is_some() {
                let found = d.field(last).is_some() || d.relationship(last).is_some();
                target = Some(d);
                if found {
                    break;
                }
            }
        }
        obj = target.ok_or_else(|| invalid_field(&obj.name, rel))?;
        prefix.push_str(f.relationship_name.as_deref().unwrap_or(rel));
        prefix.push('.');
    }
    let last = segs
        .last()
        .ok_or_else(|| Error::config("empty field path"))?;
    let field = obj
        .field(last)
        .ok_or_else(|| invalid_field(&obj.name, last))?
        .clone();
    Ok(Resolved {
        key: format!("{prefix}{}", field.name),
        prefix,
        object: obj,
        field,
    })
}

/// Builds the plan; fetches the describes it needs.
pub async fn plan(client: &Client, cache: &DescribeCache, soql_text: &str) -> Result<ReadPlan> {
    let q: Query = soql::parse(soql_text).map_err(|e| Error::Api {
        status: 400,
        code: "MALFORMED_QUERY".into(),
        message: e.salesforce_message(soql_text),
        fields: Vec::new(),
    })?;
    let root = cache.get(client, &q.from).await?;
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    let mut bulk_items = Vec::new();
    let mut expr = 0;
    let aggregate = q.has_aggregates();
    for item in &q.select {
        match item {
            SelectItem::Field(path) => {
                let r = resolve(client, cache, &root, path, q.alias.as_deref()).await?;
                if r.field.ftype.is_compound() {
                    let parts = compound_fields(&r.object, &r.field);
                    let struct_fields: Fields = parts.iter().map(|(f, _, _)| f.clone()).collect();
                    fields.push(Field::new(&r.key, DataType::Struct(struct_fields), true));
                    for (_, _, comp) in &parts {
                        bulk_items.push(SelectItem::Field(FieldPath::from_dotted(&format!("{}{comp}", r.prefix))));
                    }
                    columns.push(Column::Compound {
                        key: r.key,
                        parts: parts.into_iter().map(|(_, k, comp)| (k, format!("{}{comp}", r.prefix))).collect(),
                    });
                } else {
                    let name = if aggregate { r.field.name.clone() } else { r.key.clone() };
                    fields.push(Field::new(&name, scalar_type(&r.field), true));
                    bulk_items.push(SelectItem::Field(FieldPath::from_dotted(&r.key)));
                    columns.push(Column::Scalar { key: name });
                }
            }
            SelectItem::Fields(kind) => {
                for f in root.fields.iter().filter(|f| !f.ftype.is_compound()) {
                    let custom = f.name.ends_with("__c");
                    if (kind == "CUSTOM" && !custom) || (kind == "STANDARD" && custom) {
                        continue;
                    }
                    fields.push(Field::new(&f.name, scalar_type(f), true));
                    columns.push(Column::Scalar { key: f.name.clone() });
                }
            }
            SelectItem::Aggregate { function, argument, alias } => {
                if argument.is_none() && q.is_count_only() {
                    continue;
                }
                let name = alias.clone().unwrap_or_else(|| {
                    expr += 1;
                    format!("expr{}", expr - 1)
                });
                let dt = match (function.as_str(), argument) {
                    ("COUNT" | "COUNT_DISTINCT", _) => DataType::Int64,
                    ("SUM" | "AVG", _) => DataType::Float64,
                    (_, Some(a)) => scalar_type(&resolve(client, cache, &root, a, q.alias.as_deref()).await?.field),
                    _ => DataType::Utf8,
                };
                fields.push(Field::new(&name, dt, true));
                columns.push(Column::Scalar { key: name });
            }
            SelectItem::Function { argument, alias, .. } => {
                let r = resolve(client, cache, &root, argument, q.alias.as_deref()).await?;
                let name = alias.clone().unwrap_or(r.key.clone());
                // toLabel, FORMAT and convertCurrency give text or the field's own type.
                fields.push(Field::new(&name, DataType::Utf8, true));
                columns.push(Column::Scalar { key: name });
            }
            SelectItem::Subquery(sub) => {
                let (rel, child) = root
                    .children
                    .iter()
                    .find(|(r, _)| r.eq_ignore_ascii_case(&sub.from))
                    .cloned()
                    .ok_or_else(|| invalid_field(&root.name, &sub.from))?;
                let child_info = cache.get(client, &child).await?;
                let mut child_fields = Vec::new();
                for ci in &sub.select {
                    if let SelectItem::Field(p) = ci {
                        let r = resolve(client, cache, &child_info, p, sub.alias.as_deref()).await?;
                        let dt = if r.field.ftype.is_compound() {
                            DataType::Struct(compound_fields(&r.object, &r.field).into_iter().map(|(f, _, _)| f).collect())
                        } else {
                            scalar_type(&r.field)
                        };
                        child_fields.push(Field::new(&r.key, dt, true));
                    }
                }
                let item = Field::new("item", DataType::Struct(child_fields.into()), true);
                fields.push(Field::new(&rel, DataType::List(Arc::new(item)), true));
                columns.push(Column::Children { key: rel });
            }
            SelectItem::TypeOf(_) => {
                return Err(Error::config("TYPEOF is not supported by sfarrow's reader yet; select the polymorphic fields directly"))
            }
        }
    }
    let count_only = q.is_count_only();
    if count_only {
        fields.push(Field::new("count", DataType::Int64, false));
    }
    let bulk_unsupported = q.bulk_unsupported_reason();
    let bulk_soql = bulk_unsupported.is_none().then(|| {
        let mut b = q.clone();
        b.select = bulk_items;
        b.to_string()
    });
    let count_soql = {
        let mut c = q.clone();
        c.select = vec![SelectItem::Aggregate {
            function: "COUNT".into(),
            argument: None,
            alias: None,
        }];
        c.order_by.clear();
        c.limit = None;
        c.offset = None;
        c.group_by.clear();
        c.having = None;
        c.to_string()
    };
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("sfarrow.object".to_string(), root.name.clone());
    Ok(ReadPlan {
        object: root.name.clone(),
        columns,
        schema: Arc::new(Schema::new_with_metadata(fields, metadata)),
        rest_soql: soql_text.to_string(),
        bulk_soql,
        bulk_unsupported,
        count_soql,
        limit: q.limit,
        count_only,
        aggregate,
        text_hints: Default::default(),
    })
}

/// The schema of an object's fields (all, or the named ones), from describe.
pub async fn object_schema(
    client: &Client,
    cache: &DescribeCache,
    object: &str,
    names: Option<&[String]>,
) -> Result<SchemaRef> {
    let info = cache.revalidate(client, object).await?;
    let selected: Vec<&FieldInfo> = match names {
        None => info.fields.iter().collect(),
        Some(ns) => ns
            .iter()
            .map(|n| info.field(n).ok_or_else(|| invalid_field(&info.name, n)))
            .collect::<Result<_>>()?,
    };
    let fields: Vec<Field> = selected
        .into_iter()
        .map(|f| {
            if f.ftype.is_compound() {
                let parts: Fields = compound_fields(&info, f)
                    .into_iter()
                    .map(|(fl, _, _)| fl)
                    .collect();
                Field::new(&f.name, DataType::Struct(parts), true)
            } else {
                Field::new(&f.name, scalar_type(f), true)
            }
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// Whether a field type must be skipped in Bulk (none today; base64 bodies are URLs in REST).
pub fn bulk_can_select(t: FieldType) -> bool {
    t != FieldType::Base64
}
