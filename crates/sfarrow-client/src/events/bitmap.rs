//! The field bitmaps of a change event header (changedFields, nulledFields, diffFields). The
//! first element, `0x<hex>`, is a big-endian bit set over the event record's top-level fields
//! (bit i is field i of the Avro `fields`, the header being field 0); each further element,
//! `<P>-0x<hex>`, is a bit set over the fields of the nested record at top-level index P, and
//! its bits decode to `Parent.Child`.

use super::avro::Record;

/// What each bit stands for, worked out once per schema so decoding only borrows names.
#[derive(Debug, Clone, Default)]
pub struct FieldNames {
    top: Vec<String>,
    /// Per top-level field: `Parent.Child` for each field of its nested record, if it has one.
    nested: Vec<Option<Vec<String>>>,
}

impl FieldNames {
    pub fn new(record: &Record) -> Self {
        let top = record.fields.iter().map(|f| f.name.clone()).collect();
        let nested = record
            .fields
            .iter()
            .map(|f| {
                let inner = f.schema.non_null()?.as_record()?;
                Some(
                    inner
                        .fields
                        .iter()
                        .map(|c| format!("{}.{}", f.name, c.name))
                        .collect(),
                )
            })
            .collect();
        FieldNames { top, nested }
    }

    /// Calls `out` with the name of each set bit of one element, lowest bit first.
    pub fn decode<'s>(
        &'s self,
        element: &str,
        out: &mut impl FnMut(&'s str),
    ) -> Result<(), String> {
        let element = element.trim();
        let (parent, hex) = match element.split_once('-') {
            Some((p, hex)) => (Some(p), hex),
            None => (None, element),
        };
        let names = match parent {
            None => &self.top,
            Some(p) => {
                let Ok(i) = p.parse::<usize>() else {
                    return Err(format!(
                        "bitmap element {element:?} does not start with a field index"
                    ));
                };
                match (self.nested.get(i), self.top.get(i)) {
                    (Some(Some(names)), _) => names,
                    (_, Some(field)) => {
                        return Err(format!(
                            "bitmap element {element:?} names field {i} ({field}), which is not a compound field"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "bitmap element {element:?} names field {i}, but the schema has {} top-level fields",
                            self.top.len()
                        ))
                    }
                }
            }
        };
        let digits = match hex.strip_prefix("0x").or_else(|| hex.strip_prefix("0X")) {
            Some(d) if !d.is_empty() => d,
            _ => {
                return Err(format!(
                    "bitmap element {element:?} is not 0x followed by hex digits"
                ))
            }
        };
        for (i, c) in digits.bytes().rev().enumerate() {
            let Some(nibble) = char::from(c).to_digit(16) else {
                return Err(format!(
                    "bitmap element {element:?} has a character that is not a hex digit"
                ));
            };
            for b in 0..4 {
                if nibble & (1 << b) == 0 {
                    continue;
                }
                let bit = i * 4 + b;
                match names.get(bit) {
                    Some(n) => out(n),
                    None => {
                        return Err(format!(
                            "bitmap element {element:?} sets bit {bit}, but there are only {} fields there",
                            names.len()
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Every element in order: the top-level names, then each nested element's.
    pub fn decode_all<'s, S: AsRef<str>>(&'s self, elements: &[S]) -> Result<Vec<&'s str>, String> {
        let mut names = Vec::new();
        for e in elements {
            self.decode(e.as_ref(), &mut |n| names.push(n))?;
        }
        Ok(names)
    }

    /// The bit of a name: (top-level index, index inside its nested record for `Parent.Child`).
    pub fn position(&self, name: &str) -> Option<(usize, Option<usize>)> {
        if let Some(i) = self.top.iter().position(|n| n == name) {
            return Some((i, None));
        }
        self.nested.iter().enumerate().find_map(|(p, names)| {
            let c = names.as_ref()?.iter().position(|n| n == name)?;
            Some((p, Some(c)))
        })
    }

    /// The bitmap elements of a list of names (`Phone`, `BillingAddress.City`).
    pub fn encode_names<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<String>, String> {
        let mut top = Vec::new();
        let mut nested = Vec::new();
        for n in names {
            match self.position(n.as_ref()) {
                Some((i, None)) => top.push(i),
                Some((p, Some(c))) => nested.push((p, c)),
                None => return Err(format!("{:?} is not a field of the event", n.as_ref())),
            }
        }
        Ok(encode(&top, &nested))
    }
}

/// The elements for a set of top-level field indexes and (parent, child) nested indexes:
/// uppercase hex in whole bytes without leading zero bytes, nested elements by ascending
/// parent, and a top-level element (`0x00` if need be) whenever anything is set. Nothing set
/// gives no elements, as Salesforce sends `[]` for an empty list.
pub fn encode(top: &[usize], nested: &[(usize, usize)]) -> Vec<String> {
    if top.is_empty() && nested.is_empty() {
        return Vec::new();
    }
    let mut out = vec![hex(top.iter().copied())];
    let mut parents: Vec<usize> = nested.iter().map(|(p, _)| *p).collect();
    parents.sort_unstable();
    parents.dedup();
    for p in parents {
        let bits = nested.iter().filter(|(q, _)| *q == p).map(|(_, c)| *c);
        out.push(format!("{p}-{}", hex(bits)));
    }
    out
}

fn hex(bits: impl Iterator<Item = usize> + Clone) -> String {
    let len = bits.clone().max().map_or(1, |m| m / 8 + 1);
    let mut bytes = vec![0u8; len];
    for b in bits {
        bytes[len - 1 - b / 8] |= 1 << (b % 8);
    }
    let mut s = String::with_capacity(2 + 2 * len);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::avro::Schema;

    /// Account's change event fields in schema order, as in Salesforce's documentation.
    fn account() -> FieldNames {
        let address: Vec<String> = [
            "Street",
            "City",
            "State",
            "PostalCode",
            "Country",
            "StateCode",
            "CountryCode",
            "Latitude",
            "Longitude",
            "GeocodeAccuracy",
        ]
        .iter()
        .map(|n| format!(r#"{{"name":"{n}","type":["null","string"]}}"#))
        .collect();
        let mut fields = vec![
            r#"{"name":"ChangeEventHeader","type":{"type":"record","name":"ChangeEventHeader","fields":[]}}"#.to_string(),
        ];
        for n in ["Name", "Type", "ParentId"] {
            fields.push(format!(r#"{{"name":"{n}","type":["null","string"]}}"#));
        }
        fields.push(format!(
            r#"{{"name":"BillingAddress","type":["null",{{"type":"record","name":"Address","fields":[{}]}}]}}"#,
            address.join(",")
        ));
        fields.push(r#"{"name":"ShippingAddress","type":["null","Address"]}"#.to_string());
        for i in 6..22 {
            let n = match i {
                6 => "Phone".to_string(),
                7 => "Fax".to_string(),
                8 => "AccountNumber".to_string(),
                _ => format!("F{i}"),
            };
            fields.push(format!(r#"{{"name":"{n}","type":["null","string"]}}"#));
        }
        fields.push(r#"{"name":"LastModifiedDate","type":["null","long"]}"#.to_string());
        let json = format!(
            r#"{{"type":"record","name":"AccountChangeEvent","namespace":"com.sforce.eventbus","fields":[{}]}}"#,
            fields.join(",")
        );
        let s = Schema::parse(&json).unwrap();
        FieldNames::new(s.as_record().unwrap())
    }

    #[test]
    fn documented_examples() {
        let n = account();
        assert_eq!(
            n.decode_all(&["0x400080"]).unwrap(),
            ["Fax", "LastModifiedDate"]
        );
        assert_eq!(
            n.decode_all(&["0x400040", "4-0x0A"]).unwrap(),
            [
                "Phone",
                "LastModifiedDate",
                "BillingAddress.City",
                "BillingAddress.PostalCode"
            ]
        );
        assert_eq!(encode(&[7, 22], &[]), ["0x400080"]);
        assert_eq!(encode(&[22, 6], &[(4, 3), (4, 1)]), ["0x400040", "4-0x0A"]);
        let names = [
            "Phone",
            "LastModifiedDate",
            "BillingAddress.City",
            "BillingAddress.PostalCode",
        ];
        assert_eq!(n.encode_names(&names).unwrap(), ["0x400040", "4-0x0A"]);
    }

    #[test]
    fn lenient_forms() {
        let n = account();
        assert_eq!(
            n.decode_all(&["0x40008"]).unwrap(),
            ["ParentId", "F18"],
            "odd digits"
        );
        assert_eq!(
            n.decode_all(&["0x00400080"]).unwrap(),
            ["Fax", "LastModifiedDate"],
            "leading zeros"
        );
        assert_eq!(
            n.decode_all(&["0X4000c0"]).unwrap(),
            ["Phone", "Fax", "LastModifiedDate"]
        );
        assert_eq!(
            n.decode_all(&["5-0x1"]).unwrap(),
            ["ShippingAddress.Street"],
            "no top-level element"
        );
        assert!(n.decode_all::<&str>(&[]).unwrap().is_empty());
        assert!(n.decode_all(&["0x00", "4-0x00"]).unwrap().is_empty());
        assert_eq!(n.decode_all(&["0x01"]).unwrap(), ["ChangeEventHeader"]);
    }

    #[test]
    fn errors_say_what() {
        let n = account();
        let cases = [
            ("0x800000", "bit 23"),
            ("0x1000000", "bit 24"),
            ("6-0x01", "not a compound"),
            ("40-0x01", "40"),
            ("x-0x01", "field index"),
            ("4-0x400", "bit 10"),
            ("0xZZ", "hex digit"),
            ("400080", "0x"),
            ("0x", "0x"),
        ];
        for (e, want) in cases {
            let err = n.decode_all(&[e]).unwrap_err();
            assert!(err.contains(want), "{e}: {err}");
        }
    }

    #[test]
    fn encode_forms() {
        assert_eq!(encode(&[], &[(4, 1)]), ["0x00", "4-0x02"]);
        assert!(encode(&[], &[]).is_empty());
        assert_eq!(encode(&[0], &[]), ["0x01"]);
        assert_eq!(encode(&[8], &[]), ["0x0100"]);
        assert_eq!(
            encode(&[1], &[(5, 0), (4, 9)]),
            ["0x02", "4-0x0200", "5-0x01"]
        );
        assert!(account().encode_names(&["Nope"]).is_err());
    }

    #[test]
    fn round_trips() {
        let n = account();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..500 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let top: Vec<usize> = (0..23).filter(|i| seed >> i & 1 == 1).collect();
            let nested: Vec<(usize, usize)> = (0..10)
                .filter(|i| seed >> (23 + i) & 1 == 1)
                .map(|c| (4, c))
                .chain(
                    (0..10)
                        .filter(|i| seed >> (33 + i) & 1 == 1)
                        .map(|c| (5, c)),
                )
                .collect();
            let elements = encode(&top, &nested);
            let got = n.decode_all(&elements).unwrap();
            let mut want: Vec<&str> = top.iter().map(|&i| n.top[i].as_str()).collect();
            for &(p, c) in &nested {
                want.push(n.nested[p].as_ref().unwrap()[c].as_str());
            }
            assert_eq!(got, want, "{elements:?}");
        }
    }
}
