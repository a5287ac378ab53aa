//! What a Salesforce field is in Arrow, for every part of the client that meets one (reads,
//! writes, events): a scalar's type from the one Salesforce-to-Arrow table, a compound's
//! components as struct fields, and a decimal's text as its scaled integer.

use super::describe::{FieldInfo, ObjectInfo};
use arrow_schema::{DataType, Field};

/// The struct key of a compound's component: `BillingStreet` in `BillingAddress` -> `street`,
/// `Loc__Latitude__s` in `Loc__c` -> `latitude`.
pub fn component_key(compound: &str, component: &str) -> String {
    let stem = compound
        .strip_suffix("Address")
        .or_else(|| {
            compound
                .strip_suffix("__c")
                .map(|s| s.trim_end_matches('_'))
        })
        .unwrap_or(compound);
    let rest = component.strip_prefix(stem).unwrap_or(component);
    let rest = rest.trim_start_matches('_').trim_end_matches("__s");
    let mut chars = rest.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => rest.to_string(),
    }
}

/// A scalar field's Arrow type: the one Salesforce-to-Arrow table (`sfarrow_soql::types`).
pub fn scalar_type(f: &FieldInfo) -> DataType {
    f.ftype
        .arrow_type(f.precision, f.scale)
        .unwrap_or(DataType::Utf8)
}

/// A compound field's (address, location) components as struct fields: (field, struct key,
/// component name).
pub fn compound_fields(obj: &ObjectInfo, f: &FieldInfo) -> Vec<(Field, String, String)> {
    obj.components(&f.name)
        .into_iter()
        .map(|c| {
            let key = component_key(&f.name, &c.name);
            (Field::new(&key, scalar_type(c), true), key, c.name.clone())
        })
        .collect()
}

/// A decimal in text (`12.5`, `-3`, `1.39E8`) as an integer scaled by `10^scale`, rounded half
/// away from zero; `None` if it is not a number or does not fit.
pub fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let t = text.trim();
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (neg, digits) = match mantissa.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    // value = digits * 10^(exp - frac.len()); we want value * 10^scale, so the last `dropped`
    // digits go and the first of them rounds, unless even it lies past the end of the text.
    let count = int.len() + frac.len();
    let frac_len = i32::try_from(frac.len()).ok()?;
    let shift = exp.saturating_add(scale.into()).saturating_sub(frac_len);
    let dropped = if shift < 0 {
        shift.unsigned_abs() as usize
    } else {
        0
    };
    let keep = count.saturating_sub(dropped);
    let round_at = (dropped > 0 && dropped <= count).then(|| count - dropped);
    let mut acc: i128 = 0;
    let mut round_up = false;
    for (n, b) in int.bytes().chain(frac.bytes()).enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        if n < keep {
            acc = acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        } else if Some(n) == round_at {
            round_up = b >= b'5';
        }
    }
    if shift > 0 {
        acc = acc.checked_mul(10i128.checked_pow(shift as u32)?)?;
    } else if round_up {
        acc = acc.checked_add(1)?;
    }
    Some(if neg { -acc } else { acc })
}

#[cfg(test)]
mod tests {
    use super::{component_key, parse_decimal};
    #[test]
    fn component_keys() {
        assert_eq!(component_key("BillingAddress", "BillingStreet"), "street");
        assert_eq!(
            component_key("BillingAddress", "BillingStateCode"),
            "stateCode"
        );
        assert_eq!(component_key("Address", "PostalCode"), "postalCode");
        assert_eq!(
            component_key("HQ_Location__c", "HQ_Location__Latitude__s"),
            "latitude"
        );
        assert_eq!(
            component_key("MailingAddress", "MailingGeocodeAccuracy"),
            "geocodeAccuracy"
        );
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("12.5", 2), Some(1250));
        assert_eq!(parse_decimal("-3", 2), Some(-300));
        assert_eq!(parse_decimal("1.39E8", 0), Some(139_000_000));
        assert_eq!(parse_decimal("1.005", 2), Some(101));
        assert_eq!(parse_decimal("0.5E-1", 2), Some(5));
        assert_eq!(parse_decimal("abc", 2), None);
        assert_eq!(parse_decimal("", 2), None);
        assert_eq!(parse_decimal("1e400", 2), None);
        assert_eq!(parse_decimal("1e2147483647", 2), None);
        assert_eq!(parse_decimal("5e-2147483648", 2), Some(0));
        assert_eq!(parse_decimal("12.345", 2), Some(1235));
        assert_eq!(parse_decimal("-0.004", 2), Some(0));
        assert_eq!(parse_decimal("-0.005", 2), Some(-1));
        assert_eq!(parse_decimal("5E-10", 2), Some(0));
        assert_eq!(parse_decimal("0.5", 0), Some(1));
        assert_eq!(parse_decimal("5", -1), Some(1));
        assert_eq!(parse_decimal("1.2.3", 2), None);
        assert_eq!(parse_decimal("1.x9", 0), None);
    }
}
