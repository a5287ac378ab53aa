//! Object and field definitions: what describe reports and what DML and SOQL check against.

use sfarrow_soql::types::FieldType;

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    pub ftype: FieldType,
    pub length: u32,
    pub precision: u32,
    pub scale: u32,
    pub digits: u32,
    pub nillable: bool,
    pub createable: bool,
    pub updateable: bool,
    pub defaulted_on_create: bool,
    pub unique: bool,
    pub external_id: bool,
    pub id_lookup: bool,
    pub custom: bool,
    pub calculated: bool,
    pub name_field: bool,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
    /// On a reference field: the parent's name for the list of these children (`Contacts`).
    pub child_relationship: Option<String>,
    /// Value given on insert when the field is absent (picklist defaults, `Status`).
    pub default: Option<String>,
    pub compound_field_name: Option<String>,
    pub picklist_values: Vec<String>,
    pub restricted_picklist: bool,
    /// Compound fields: the component fields, in struct order, with the struct key of each.
    pub components: Vec<(String, String)>,
}

impl FieldDef {
    pub fn new(name: &str, ftype: FieldType) -> Self {
        let custom = name.ends_with("__c") || name.ends_with("__s");
        let (length, precision, scale, digits) = match ftype {
            FieldType::Id | FieldType::Reference => (18, 0, 0, 0),
            FieldType::String | FieldType::Combobox | FieldType::EncryptedString => (255, 0, 0, 0),
            FieldType::Picklist => (255, 0, 0, 0),
            FieldType::MultiPicklist => (4099, 0, 0, 0),
            FieldType::TextArea => (32_000, 0, 0, 0),
            FieldType::Email | FieldType::Url => (255, 0, 0, 0),
            FieldType::Phone => (40, 0, 0, 0),
            FieldType::Int => (0, 0, 0, 9),
            FieldType::Long => (0, 0, 0, 18),
            FieldType::Double | FieldType::Currency | FieldType::Percent => (0, 18, 2, 0),
            _ => (0, 0, 0, 0),
        };
        let writable = !matches!(
            ftype,
            FieldType::Id | FieldType::Address | FieldType::Location
        );
        FieldDef {
            name: name.to_string(),
            label: label_for(name),
            ftype,
            length,
            precision,
            scale,
            digits,
            nillable: !matches!(ftype, FieldType::Id | FieldType::Boolean),
            createable: writable,
            updateable: writable,
            defaulted_on_create: ftype == FieldType::Boolean,
            unique: false,
            external_id: false,
            id_lookup: ftype == FieldType::Id,
            custom,
            calculated: false,
            name_field: false,
            reference_to: Vec::new(),
            relationship_name: None,
            child_relationship: None,
            default: None,
            compound_field_name: None,
            picklist_values: Vec::new(),
            restricted_picklist: false,
            components: Vec::new(),
        }
    }

    /// A field that must be given on insert: not nillable, writable, and with no default.
    pub fn required(&self) -> bool {
        !self.nillable && self.createable && !self.defaulted_on_create
    }

    pub fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }
}

/// `AnnualRevenue` -> `Annual Revenue`, `Ext_Id__c` -> `Ext Id`.
fn label_for(name: &str) -> String {
    let base = name
        .trim_end_matches("__c")
        .trim_end_matches("__s")
        .replace('_', " ");
    let mut out = String::with_capacity(base.len() + 4);
    let mut prev_lower = false;
    for c in base.chars() {
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.push(c);
    }
    out
}

#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub label_plural: String,
    pub key_prefix: String,
    pub custom: bool,
    pub fields: Vec<FieldDef>,
}

impl ObjectDef {
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    }

    #[cfg(test)]
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.field_index(name).map(|i| &self.fields[i])
    }

    /// A platform event (`Order__e`): published, never stored or queried.
    pub fn is_event(&self) -> bool {
        self.name.ends_with("__e")
    }

    /// The reference field whose `relationshipName` is `rel` (`Owner` -> `OwnerId`).
    pub fn relationship(&self, rel: &str) -> Option<usize> {
        self.fields.iter().position(|f| {
            f.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(rel))
        })
    }
}

/// Builds object definitions tersely; standard audit fields come first, as on a real org.
pub struct ObjectBuilder {
    def: ObjectDef,
}

impl ObjectBuilder {
    pub fn new(name: &str, label: &str, plural: &str, prefix: &str, owned: bool) -> Self {
        let mut fields = vec![
            FieldDef::new("Id", FieldType::Id),
            FieldDef {
                defaulted_on_create: true,
                ..FieldDef::new("IsDeleted", FieldType::Boolean).read_only()
            },
        ];
        if owned {
            let mut owner = FieldDef::new("OwnerId", FieldType::Reference);
            owner.reference_to = vec!["User".into()];
            owner.relationship_name = Some("Owner".into());
            owner.nillable = false;
            owner.defaulted_on_create = true;
            owner.label = "Owner ID".into();
            fields.push(owner);
        }
        for (name, ftype, rel) in [
            ("CreatedDate", FieldType::DateTime, None),
            ("CreatedById", FieldType::Reference, Some("CreatedBy")),
            ("LastModifiedDate", FieldType::DateTime, None),
            (
                "LastModifiedById",
                FieldType::Reference,
                Some("LastModifiedBy"),
            ),
            ("SystemModstamp", FieldType::DateTime, None),
        ] {
            let mut f = FieldDef::new(name, ftype).read_only();
            f.nillable = false;
            f.defaulted_on_create = true;
            if let Some(rel) = rel {
                f.reference_to = vec!["User".into()];
                f.relationship_name = Some(rel.into());
            }
            fields.push(f);
        }
        ObjectBuilder {
            def: ObjectDef {
                name: name.into(),
                label: label.into(),
                label_plural: plural.into(),
                key_prefix: prefix.into(),
                custom: name.ends_with("__c"),
                fields,
            },
        }
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.def.field_index(name).is_some()
    }

    pub fn field(mut self, f: FieldDef) -> Self {
        self.def.fields.push(f);
        self
    }

    pub fn text(self, name: &str, length: u32) -> Self {
        self.field(FieldDef {
            length,
            ..FieldDef::new(name, FieldType::String)
        })
    }

    pub fn typed(self, name: &str, ftype: FieldType) -> Self {
        self.field(FieldDef::new(name, ftype))
    }

    pub fn required_text(self, name: &str, length: u32) -> Self {
        self.field(FieldDef {
            length,
            nillable: false,
            ..FieldDef::new(name, FieldType::String)
        })
    }

    pub fn picklist(self, name: &str, values: &[&str]) -> Self {
        self.field(FieldDef {
            picklist_values: values.iter().map(|v| v.to_string()).collect(),
            ..FieldDef::new(name, FieldType::Picklist)
        })
    }

    pub fn multipicklist(self, name: &str, values: &[&str]) -> Self {
        self.field(FieldDef {
            picklist_values: values.iter().map(|v| v.to_string()).collect(),
            ..FieldDef::new(name, FieldType::MultiPicklist)
        })
    }

    pub fn number(self, name: &str, ftype: FieldType, precision: u32, scale: u32) -> Self {
        self.field(FieldDef {
            precision,
            scale,
            ..FieldDef::new(name, ftype)
        })
    }

    pub fn reference(self, name: &str, to: &str, relationship: &str, children: &str) -> Self {
        self.field(FieldDef {
            reference_to: vec![to.into()],
            relationship_name: Some(relationship.into()),
            child_relationship: Some(children.into()),
            ..FieldDef::new(name, FieldType::Reference)
        })
    }

    /// A picklist that is filled in when an insert leaves it out.
    pub fn defaulted_picklist(self, name: &str, values: &[&str], default: &str) -> Self {
        self.field(FieldDef {
            picklist_values: values.iter().map(|v| v.to_string()).collect(),
            nillable: false,
            defaulted_on_create: true,
            default: Some(default.into()),
            ..FieldDef::new(name, FieldType::Picklist)
        })
    }

    /// An address compound (`BillingAddress`) and its components (`BillingStreet`, ...).
    pub fn address(mut self, prefix: &str) -> Self {
        let compound = format!("{prefix}Address");
        let parts: [(&str, &str, FieldType); 8] = [
            ("Street", "street", FieldType::TextArea),
            ("City", "city", FieldType::String),
            ("State", "state", FieldType::String),
            ("PostalCode", "postalCode", FieldType::String),
            ("Country", "country", FieldType::String),
            ("Latitude", "latitude", FieldType::Double),
            ("Longitude", "longitude", FieldType::Double),
            ("GeocodeAccuracy", "geocodeAccuracy", FieldType::Picklist),
        ];
        let mut components = Vec::new();
        for (suffix, key, ftype) in parts {
            let name = format!("{prefix}{suffix}");
            let mut f = FieldDef::new(&name, ftype);
            match suffix {
                "Street" => f.length = 255,
                "City" | "State" | "Country" => f.length = 80,
                "PostalCode" => f.length = 20,
                "Latitude" | "Longitude" => {
                    f.precision = 18;
                    f.scale = 15;
                }
                _ => {
                    f.picklist_values = ["Address", "City", "Street", "Zip", "Unknown"]
                        .map(String::from)
                        .to_vec()
                }
            }
            f.compound_field_name = Some(compound.clone());
            components.push((name, key.to_string()));
            self.def.fields.push(f);
        }
        let mut addr = FieldDef::new(&compound, FieldType::Address).read_only();
        addr.components = components;
        self.def.fields.push(addr);
        self
    }

    /// A geolocation compound `Loc__c` with `Loc__Latitude__s` / `Loc__Longitude__s`.
    pub fn location(mut self, name: &str) -> Self {
        let stem = name.trim_end_matches("__c");
        let mut components = Vec::new();
        for (part, key) in [("Latitude", "latitude"), ("Longitude", "longitude")] {
            let cname = format!("{stem}__{part}__s");
            let mut f = FieldDef::new(&cname, FieldType::Double);
            f.precision = 18;
            f.scale = 15;
            f.compound_field_name = Some(name.to_string());
            components.push((cname, key.to_string()));
            self.def.fields.push(f);
        }
        let mut loc = FieldDef::new(name, FieldType::Location).read_only();
        loc.components = components;
        self.def.fields.push(loc);
        self
    }

    pub fn build(self) -> ObjectDef {
        self.def
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_like_salesforce() {
        assert_eq!(label_for("AnnualRevenue"), "Annual Revenue");
        assert_eq!(label_for("Ext_Id__c"), "Ext Id");
        assert_eq!(label_for("Name"), "Name");
    }
}
