//! The changedFields / nulledFields bitmaps (docs/wire-notes.md §10.6): bit i of the first
//! element's big-endian hex flags the record's field i (the header is field 0); an element
//! `P-0x..` flags the fields of the nested record at position P. Uppercase, whole bytes, no
//! leading zero bytes, nested elements after the first in ascending order.

use crate::api::pubsub::schema::Slot;

fn hex(bits: &[usize]) -> String {
    let top = bits.iter().copied().max().unwrap_or(0);
    let mut bytes = vec![0u8; top / 8 + 1];
    let n = bytes.len();
    for b in bits {
        bytes[n - 1 - b / 8] |= 1 << (b % 8);
    }
    let mut s = String::from("0x");
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// The bitmap of the record fields at row indexes `fields`, by the schema's layout.
pub fn of_fields(slots: &[Slot], fields: &[usize]) -> Vec<String> {
    let mut top = Vec::new();
    let mut nested: Vec<(usize, Vec<usize>)> = Vec::new();
    for (p, slot) in slots.iter().enumerate() {
        // Position 0 is the ChangeEventHeader.
        let pos = p + 1;
        match slot {
            Slot::Scalar { index, .. } => {
                if fields.contains(index) {
                    top.push(pos);
                }
            }
            Slot::Compound { parts, .. } => {
                let bits: Vec<usize> = parts
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, i, _))| fields.contains(i))
                    .map(|(k, _)| k)
                    .collect();
                if !bits.is_empty() {
                    nested.push((pos, bits));
                }
            }
        }
    }
    if top.is_empty() && nested.is_empty() {
        return Vec::new();
    }
    // A leading top-level element always comes first, even when only nested fields are flagged:
    // public decoders expect element 0 to be the top-level map.
    let mut out = vec![if top.is_empty() {
        "0x00".to_string()
    } else {
        hex(&top)
    }];
    for (pos, bits) in nested {
        out.push(format!("{pos}-{}", hex(&bits)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        assert_eq!(hex(&[7, 22]), "0x400080");
        assert_eq!(hex(&[6, 22]), "0x400040");
        assert_eq!(hex(&[1, 3]), "0x0A");
        assert_eq!(hex(&[0]), "0x01");
        // Fax (7) and LastModifiedDate (22) of the Account change event.
        let s =
            crate::api::pubsub::schema::build(&crate::data::objects::account()).expect("schema");
        let def = crate::data::objects::account();
        let idx = |n: &str| def.field_index(n).expect(n);
        let pos = |n: &str| s.slots.iter().position(|x| x.name() == n).expect(n) + 1;
        let got = of_fields(
            &s.slots,
            &[idx("Phone"), idx("BillingCity"), idx("BillingPostalCode")],
        );
        let mut want_top = vec![pos("Phone")];
        want_top.sort();
        assert_eq!(
            got,
            vec![hex(&want_top), format!("{}-0x0A", pos("BillingAddress"))]
        );
        assert_eq!(
            of_fields(&s.slots, &[idx("BillingCity")]),
            vec![
                "0x00".to_string(),
                format!("{}-0x02", pos("BillingAddress"))
            ]
        );
        assert!(of_fields(&s.slots, &[]).is_empty());
    }
}
