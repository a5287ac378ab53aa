//! Salesforce field types (the `type` property of a describe result): the one table that says
//! which types exist, how the SOAP API names them and which are compounds.

use arrow_schema::{DataType, TimeUnit};
use std::fmt;

/// Arrow's name for UTC in timestamp types ("+00:00" needs no time-zone database).
pub const UTC: &str = "+00:00";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Id,
    Reference,
    String,
    TextArea,
    Picklist,
    MultiPicklist,
    Combobox,
    Email,
    Phone,
    Url,
    EncryptedString,
    AnyType,
    Boolean,
    Int,
    Long,
    Double,
    Percent,
    Currency,
    Date,
    DateTime,
    Time,
    Address,
    Location,
    Base64,
    Json,
}

/// (type, describe name, soapType)
const TABLE: &[(FieldType, &str, &str)] = &[
    (FieldType::Id, "id", "tns:ID"),
    (FieldType::Reference, "reference", "tns:ID"),
    (FieldType::String, "string", "xsd:string"),
    (FieldType::TextArea, "textarea", "xsd:string"),
    (FieldType::Picklist, "picklist", "xsd:string"),
    (FieldType::MultiPicklist, "multipicklist", "xsd:string"),
    (FieldType::Combobox, "combobox", "xsd:string"),
    (FieldType::Email, "email", "xsd:string"),
    (FieldType::Phone, "phone", "xsd:string"),
    (FieldType::Url, "url", "xsd:string"),
    (FieldType::EncryptedString, "encryptedstring", "xsd:string"),
    (FieldType::AnyType, "anyType", "xsd:anyType"),
    (FieldType::Boolean, "boolean", "xsd:boolean"),
    (FieldType::Int, "int", "xsd:int"),
    (FieldType::Long, "long", "xsd:long"),
    (FieldType::Double, "double", "xsd:double"),
    (FieldType::Percent, "percent", "xsd:double"),
    (FieldType::Currency, "currency", "xsd:double"),
    (FieldType::Date, "date", "xsd:date"),
    (FieldType::DateTime, "datetime", "xsd:dateTime"),
    (FieldType::Time, "time", "xsd:time"),
    (FieldType::Address, "address", "urn:address"),
    (FieldType::Location, "location", "urn:location"),
    (FieldType::Base64, "base64", "xsd:base64Binary"),
    (FieldType::Json, "json", "tns:json"),
];

impl FieldType {
    /// Parses a describe `type` value (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        TABLE
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(t, _, _)| *t)
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn soap_type(self) -> &'static str {
        self.entry().2
    }

    fn entry(self) -> &'static (FieldType, &'static str, &'static str) {
        // Every variant has a row: the unit test `every_variant_has_a_row` keeps it so.
        TABLE
            .iter()
            .find(|(t, _, _)| *t == self)
            .unwrap_or(&TABLE[0])
    }

    /// Values travel as text (JSON strings, CSV cells) and have a maximum length.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::Id
                | FieldType::Reference
                | FieldType::String
                | FieldType::TextArea
                | FieldType::Picklist
                | FieldType::MultiPicklist
                | FieldType::Combobox
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::EncryptedString
                | FieldType::AnyType
                | FieldType::Json
        )
    }

    /// Address and location: read-only structs made of component fields; Bulk API 2.0 rejects them.
    pub fn is_compound(self) -> bool {
        matches!(self, FieldType::Address | FieldType::Location)
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int
                | FieldType::Long
                | FieldType::Double
                | FieldType::Percent
                | FieldType::Currency
        )
    }

    /// The one table from Salesforce type to Arrow type. Compounds (address, location) are
    /// structs of their components and are built by the reader, so they return `None`.
    /// Currency keeps describe's precision and scale as a decimal; unknown precision reads as
    /// decimal128(18, 2).
    pub fn arrow_type(self, precision: u32, scale: u32) -> Option<DataType> {
        Some(match self {
            t if t.is_text() => DataType::Utf8,
            FieldType::Base64 => DataType::Utf8,
            FieldType::Boolean => DataType::Boolean,
            FieldType::Int => DataType::Int32,
            FieldType::Long => DataType::Int64,
            FieldType::Double | FieldType::Percent => DataType::Float64,
            FieldType::Currency => {
                let p = if precision == 0 {
                    18
                } else {
                    precision.min(38)
                } as u8;
                let s = if precision == 0 {
                    2
                } else {
                    scale.min(p as u32)
                } as i8;
                DataType::Decimal128(p, s)
            }
            FieldType::Date => DataType::Date32,
            FieldType::DateTime => DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into())),
            FieldType::Time => DataType::Time32(TimeUnit::Millisecond),
            _ => return None,
        })
    }

    /// The Avro type of the field in change and platform events (docs/wire-notes.md §10.5):
    /// date, time and datetime travel as epoch or day milliseconds (`long`), numbers other than
    /// int and long as `double`. Compounds are nested records, so they return `None`.
    pub fn avro_type(self) -> Option<&'static str> {
        Some(match self {
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Double | FieldType::Percent | FieldType::Currency => "double",
            FieldType::Date | FieldType::DateTime | FieldType::Time => "long",
            FieldType::Address | FieldType::Location => return None,
            _ => "string",
        })
    }

    pub fn all() -> impl Iterator<Item = FieldType> {
        TABLE.iter().map(|(t, _, _)| *t)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_row() {
        assert_eq!(TABLE.len(), 25);
        for (t, name, _) in TABLE {
            assert_eq!(FieldType::from_name(name), Some(*t));
            assert_eq!(t.name(), *name);
        }
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(FieldType::from_name("DateTime"), Some(FieldType::DateTime));
        assert_eq!(FieldType::from_name("anytype"), Some(FieldType::AnyType));
        assert_eq!(FieldType::from_name("nope"), None);
    }
}
