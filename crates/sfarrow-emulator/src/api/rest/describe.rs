//! describeGlobal and sObject describe (§2.3, §2.4), built from the object definitions.

use crate::api::answer::Answer;
use crate::api::state::OrgState;
use crate::data::schema::{FieldDef, ObjectDef};
use crate::http::{ApiError, Req, Resp};
use serde_json::{json, Value};
use sfarrow_soql::types::FieldType as T;

fn urls(version: &str, name: &str) -> Value {
    let base = format!("/services/data/v{version}/sobjects/{name}");
    json!({
        "sobject": base,
        "describe": format!("{base}/describe"),
        "rowTemplate": format!("{base}/{{ID}}"),
        "compactLayouts": format!("{base}/describe/compactLayouts"),
        "layouts": format!("{base}/describe/layouts"),
    })
}

fn global_entry(def: &ObjectDef, version: &str) -> Value {
    let user = def.name == "User";
    // A platform event can only be published (created); it is never stored.
    let event = def.is_event();
    json!({
        "activateable": false,
        "associateEntityType": null,
        "associateParentEntity": null,
        "createable": true,
        "custom": def.custom,
        "customSetting": false,
        "deepCloneable": false,
        "deletable": !user && !event,
        "deprecatedAndHidden": false,
        "feedEnabled": !def.custom && !event,
        "hasSubtypes": false,
        "isInterface": false,
        "isSubtype": false,
        "keyPrefix": def.key_prefix,
        "label": def.label,
        "labelPlural": def.label_plural,
        "layoutable": !event,
        "mergeable": matches!(def.name.as_str(), "Account" | "Contact" | "Lead" | "Case"),
        "mruEnabled": true,
        "name": def.name,
        "queryable": !event,
        "replicateable": !event,
        "retrieveable": !event,
        "searchable": !event,
        "triggerable": true,
        "undeletable": !user && !event,
        "updateable": !event,
        "urls": urls(version, &def.name),
    })
}

pub fn global(state: &OrgState, version: &str) -> Answer {
    let store = state.store.read();
    let sobjects: Vec<Value> = store
        .tables
        .iter()
        .map(|t| global_entry(&t.def, version))
        .collect();
    Ok(Resp::json(
        200,
        &json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}),
    ))
}

fn field_json(f: &FieldDef) -> Value {
    let picklist: Vec<Value> = f
        .picklist_values
        .iter()
        .map(|v| {
            json!({"active": true, "defaultValue": f.default.as_deref() == Some(v.as_str()), "label": v, "validFor": null, "value": v})
        })
        .collect();
    let text = f.ftype.is_text();
    let default_value = match (&f.default, f.ftype) {
        (Some(d), T::Boolean) => json!(d == "true"),
        (None, T::Boolean) => json!(false),
        _ => Value::Null,
    };
    let sortable = !matches!(
        f.ftype,
        T::TextArea | T::MultiPicklist | T::Address | T::Location | T::Base64 | T::EncryptedString
    );
    json!({
        "aggregatable": sortable && !matches!(f.ftype, T::Boolean),
        "aiPredictionField": false,
        "autoNumber": f.name == "CaseNumber",
        "byteLength": if text { f.length * 3 } else { 0 },
        "calculated": f.calculated,
        "calculatedFormula": null,
        "cascadeDelete": false,
        "caseSensitive": false,
        "compoundFieldName": f.compound_field_name,
        "controllerName": null,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": default_value,
        "defaultValueFormula": null,
        "defaultedOnCreate": f.defaulted_on_create,
        "dependentPicklist": false,
        "deprecatedAndHidden": false,
        "digits": f.digits,
        "displayLocationInDecimal": false,
        "encrypted": f.ftype == T::EncryptedString,
        "externalId": f.external_id,
        "extraTypeInfo": if f.ftype == T::TextArea { json!("plaintextarea") } else { Value::Null },
        "filterable": !matches!(f.ftype, T::TextArea | T::Address | T::Location | T::Base64),
        "filteredLookupInfo": null,
        "formulaTreatNullNumberAsZero": false,
        "groupable": sortable && !f.ftype.is_numeric() || matches!(f.ftype, T::Int),
        "highScaleNumber": false,
        "htmlFormatted": false,
        "idLookup": f.id_lookup,
        "inlineHelpText": null,
        "label": f.label,
        "length": if text { f.length } else { 0 },
        "mask": null,
        "maskType": null,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": false,
        "nillable": f.nillable,
        "permissionable": f.nillable && f.custom,
        "picklistValues": picklist,
        "polymorphicForeignKey": f.reference_to.len() > 1,
        "precision": f.precision,
        "queryByDistance": false,
        "referenceTargetField": null,
        "referenceTo": f.reference_to,
        "relationshipName": f.relationship_name,
        "relationshipOrder": null,
        "restrictedDelete": false,
        "restrictedPicklist": f.restricted_picklist,
        "scale": f.scale,
        "searchPrefilterable": false,
        "soapType": f.ftype.soap_type(),
        "sortable": sortable,
        "type": f.ftype.name(),
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": false,
    })
}

pub fn object(state: &OrgState, req: &Req, version: &str, name: &str) -> Answer {
    let store = state.store.read();
    let t = store.table(name).ok_or_else(ApiError::not_found)?;
    let since = req
        .header("if-modified-since")
        .and_then(|h| chrono::DateTime::parse_from_rfc2822(h).ok())
        .map(|d| d.timestamp_millis());
    if since.is_some_and(|s| s >= store.schema_modified) {
        return Ok(Resp::empty(304));
    }
    let mut body = global_entry(&t.def, version);
    let fields: Vec<Value> = t.def.fields.iter().map(field_json).collect();
    let children: Vec<Value> = store
        .child_relationships(&t.def.name)
        .into_iter()
        .map(|(rel, ct, cf)| {
            json!({
                "cascadeDelete": false,
                "childSObject": store.tables[ct].def.name,
                "deprecatedAndHidden": false,
                "field": store.tables[ct].def.fields[cf].name,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": rel,
                "restrictedDelete": false,
            })
        })
        .collect();
    let extra = json!({
        "actionOverrides": [],
        "childRelationships": children,
        "compactLayoutable": true,
        "fields": fields,
        "listviewable": null,
        "lookupLayoutable": null,
        "namedLayoutInfos": [],
        "networkScopeFieldName": null,
        "recordTypeInfos": [{
            "active": true, "available": true, "defaultRecordTypeMapping": true,
            "developerName": "Master", "master": true, "name": "Master",
            "recordTypeId": "012000000000000AAA",
            "urls": {"layout": format!("/services/data/v{version}/sobjects/{}/describe/layouts/012000000000000AAA", t.def.name)}
        }],
        "searchLayoutable": true,
        "supportedScopes": [{"label": "All", "name": "everything"}, {"label": "My", "name": "mine"}],
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    Ok(Resp::json(200, &body))
}
