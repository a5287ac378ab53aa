//! Stored values and their conversion from what clients send: REST JSON or Bulk CSV cells.

use crate::data::schema::FieldDef;
use sfarrow_soql::formats;
use sfarrow_soql::types::FieldType as T;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(Box<str>),
    /// Days since the epoch.
    Date(i32),
    /// Milliseconds since the epoch, UTC.
    DateTime(i64),
    /// Milliseconds since midnight.
    Time(i32),
}

impl Value {
    pub fn text(s: impl Into<Box<str>>) -> Value {
        Value::Text(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// A per-record failure, as Salesforce reports it: `statusCode`/`errorCode`, message, fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DmlError {
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
}

impl DmlError {
    pub fn new(code: &'static str, message: impl Into<String>, fields: &[&str]) -> Self {
        DmlError {
            code,
            message: message.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }
}

impl DmlError {
    /// A field the caller may not set on this kind of write.
    pub fn not_writable(f: &FieldDef) -> DmlError {
        DmlError::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                f.name
            ),
            &[&f.name],
        )
    }

    /// Errors Salesforce raises for a whole collections request rather than per record:
    /// a value of the wrong JSON type, or a column that is not a field.
    pub fn is_request_level(&self) -> bool {
        self.code == "JSON_PARSER_ERROR" || self.message.starts_with("No such column")
    }
}

/// Raw input for one field: a JSON value from REST or a cell from a Bulk CSV upload.
pub enum Raw<'a> {
    Json(&'a serde_json::Value),
    Csv(&'a str),
}

fn bad_value(field: &FieldDef, shown: &str, csv: bool) -> DmlError {
    if csv {
        DmlError::new(
            "INVALID_FIELD",
            format!(
                "Failed to deserialize field {}. Due to, '{shown}' is not a valid value for the type {}",
                field.name,
                field.ftype.soap_type()
            ),
            &[&field.name],
        )
    } else {
        DmlError::new(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {} from {shown} value for field {}",
                field.ftype.soap_type(),
                field.name
            ),
            &[&field.name],
        )
    }
}

/// Converts raw input to a stored value. `Ok(None)` means "leave the field as it is": an empty
/// Bulk cell. `#N/A` in Bulk and `null` in JSON set the field to null.
pub fn coerce(field: &FieldDef, raw: Raw<'_>) -> Result<Option<Value>, DmlError> {
    // A checkbox cannot be null: Salesforce stores a null as false.
    if field.ftype == T::Boolean
        && matches!(raw, Raw::Csv("#N/A") | Raw::Json(serde_json::Value::Null))
    {
        return Ok(Some(Value::Bool(false)));
    }
    let (text, csv): (std::borrow::Cow<'_, str>, bool) = match raw {
        Raw::Csv("") => return Ok(None),
        Raw::Csv("#N/A") => return Ok(Some(Value::Null)),
        Raw::Csv(s) => (s.into(), true),
        Raw::Json(serde_json::Value::Null) => return Ok(Some(Value::Null)),
        Raw::Json(serde_json::Value::String(s)) => (s.as_str().into(), false),
        Raw::Json(serde_json::Value::Bool(b)) => {
            return match field.ftype {
                T::Boolean => Ok(Some(Value::Bool(*b))),
                t if t.is_text() => Ok(Some(Value::text(b.to_string()))),
                _ => Err(bad_value(field, "VALUE_TRUE/VALUE_FALSE", false)),
            }
        }
        Raw::Json(serde_json::Value::Number(n)) => {
            if field.ftype == T::Boolean || !(field.ftype.is_numeric() || field.ftype.is_text()) {
                return Err(bad_value(field, "VALUE_NUMBER", false));
            }
            (n.to_string().into(), false)
        }
        Raw::Json(_) => return Err(bad_value(field, "START_OBJECT", false)),
    };
    let text = text.as_ref();
    let value = match field.ftype {
        t if t.is_text() => Value::text(text),
        T::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            // Bulk accepts the Data Loader spellings too.
            "1" | "yes" | "y" if csv => Value::Bool(true),
            "0" | "no" | "n" if csv => Value::Bool(false),
            _ => return Err(bad_value(field, text, csv)),
        },
        T::Int | T::Long => match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            // Whole numbers written as doubles ("10.0", "1E3") are accepted, as Salesforce does.
            Err(_) => match text.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Value::Int(f as i64),
                _ => return Err(bad_value(field, text, csv)),
            },
        },
        T::Double | T::Currency | T::Percent => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Float(f),
            _ => return Err(bad_value(field, text, csv)),
        },
        T::Date => match formats::parse_date(text)
            .or_else(|| formats::parse_datetime(text).map(|ms| ms.div_euclid(86_400_000) as i32))
        {
            Some(d) => Value::Date(d),
            None => return Err(bad_value(field, text, csv)),
        },
        T::DateTime => match formats::parse_datetime(text)
            .or_else(|| formats::parse_date(text).map(|d| d as i64 * 86_400_000))
        {
            Some(ms) => Value::DateTime(ms),
            None => return Err(bad_value(field, text, csv)),
        },
        T::Time => match formats::parse_time(text) {
            Some(t) => Value::Time(t),
            None => return Err(bad_value(field, text, csv)),
        },
        _ => return Err(bad_value(field, text, csv)),
    };
    Ok(Some(value))
}

/// Checks a value against the field's length and numeric limits.
pub fn check_limits(field: &FieldDef, value: &Value) -> Result<(), DmlError> {
    match value {
        Value::Text(s) if field.length > 0 => {
            let chars = s.chars().count();
            if chars > field.length as usize {
                let shown: String = s.chars().take(30).collect();
                return Err(DmlError::new(
                    "STRING_TOO_LONG",
                    format!(
                        "{}: data value too large: {shown}{} (max length={})",
                        field.label,
                        if chars > 30 { "..." } else { "" },
                        field.length
                    ),
                    &[&field.name],
                ));
            }
        }
        Value::Int(i) if field.ftype == T::Int && i32::try_from(*i).is_err() => {
            return Err(out_of_range(field, &i.to_string()))
        }
        Value::Float(f) if field.precision > 0 => {
            let whole_digits = field.precision.saturating_sub(field.scale) as i32;
            if f.abs() >= 10f64.powi(whole_digits) {
                return Err(out_of_range(field, &f.to_string()));
            }
        }
        _ => {}
    }
    Ok(())
}

fn out_of_range(field: &FieldDef, shown: &str) -> DmlError {
    DmlError::new(
        "NUMBER_OUTSIDE_VALID_RANGE",
        format!(
            "{}: value outside of valid range on numeric field: {shown}",
            field.label
        ),
        &[&field.name],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(t: T) -> FieldDef {
        FieldDef::new("X__c", t)
    }

    #[test]
    fn csv_empty_leaves_and_na_nulls() {
        assert_eq!(coerce(&f(T::String), Raw::Csv("")).unwrap(), None);
        assert_eq!(
            coerce(&f(T::Int), Raw::Csv("#N/A")).unwrap(),
            Some(Value::Null)
        );
    }

    #[test]
    fn json_and_csv_agree() {
        let dt = f(T::DateTime);
        let a = coerce(&dt, Raw::Csv("2021-07-21T04:13:15.000Z")).unwrap();
        let b = coerce(&dt, Raw::Json(&json!("2021-07-21T06:13:15+02:00"))).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            coerce(&f(T::Int), Raw::Json(&json!(12))).unwrap(),
            Some(Value::Int(12))
        );
        assert_eq!(
            coerce(&f(T::Currency), Raw::Csv("1.5E3")).unwrap(),
            Some(Value::Float(1500.0))
        );
    }

    #[test]
    fn bad_values_are_typed_errors() {
        assert_eq!(
            coerce(&f(T::Date), Raw::Csv("31/01/2020"))
                .unwrap_err()
                .code,
            "INVALID_FIELD"
        );
        assert_eq!(
            coerce(&f(T::Boolean), Raw::Json(&json!("maybe")))
                .unwrap_err()
                .code,
            "JSON_PARSER_ERROR"
        );
    }

    #[test]
    fn limits() {
        let mut s = f(T::String);
        s.length = 3;
        assert!(check_limits(&s, &Value::text("abc")).is_ok());
        assert_eq!(
            check_limits(&s, &Value::text("abcd")).unwrap_err().code,
            "STRING_TOO_LONG"
        );
        let mut c = f(T::Currency);
        c.precision = 5;
        c.scale = 2;
        assert!(check_limits(&c, &Value::Float(999.99)).is_ok());
        assert!(check_limits(&c, &Value::Float(1000.0)).is_err());
    }
}
