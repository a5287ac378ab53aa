//! Deterministic fake records: the same seed gives the same ids and values run after run, with
//! the awkward cases real data has (unicode, quotes, commas, newlines, nulls, extreme numbers).

use crate::schema::FieldDef;
use crate::store::{Store, IDX_ID};
use crate::value::Value;
use sfarrow_core::types::FieldType as T;

/// Seeded records were created over the two years before the org started, oldest first, and
/// last modified some time between their creation and the start: an incremental connector's
/// default start date (a year or two back) finds them, and the dates are the same for the same
/// seed and start time.
const SEED_SPAN_MS: i64 = 2 * 365 * 86_400_000;

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Zoë",
    "José",
    "Ingrid",
    "Hiroshi",
    "Amélie",
    "Søren",
    "Chidi",
    "Priya",
    "Ólafur",
    "Mei",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "O'Brien",
    "Müller",
    "Nakamura",
    "Kowalski",
    "Dubois",
    "Østergaard",
    "Okafor",
    "Patel",
    "Nguyen",
    "Rossi",
];
const WORDS: &[&str] = &[
    "Acme",
    "Global",
    "Pinnacle",
    "Vertex",
    "Blue Sky",
    "Northwind",
    "Summit",
    "Quantum",
    "Harbor",
    "Evergreen",
    "Granite",
    "Lumen",
    "Crescent",
    "Atlas",
    "Nimbus",
    "Cedar",
    "Orion",
    "Falcon",
    "Riverside",
    "Keystone",
];
const NOUNS: &[&str] = &[
    "Systems",
    "Holdings",
    "Logistics",
    "Foods",
    "Energy",
    "Labs",
    "Partners",
    "Media",
    "Health",
    "Robotics",
];
const SUFFIXES: &[&str] = &[
    "Inc.", "LLC", "Ltd", "GmbH", "S.A.", "Corp.", "& Co.", "AG", "K.K.", "Pty Ltd",
];
/// (city, state, postal code, country, latitude, longitude)
const CITIES: &[(&str, &str, &str, &str, f64, f64)] = &[
    (
        "San Francisco",
        "CA",
        "94105",
        "United States",
        37.7897,
        -122.3972,
    ),
    (
        "New York",
        "NY",
        "10001",
        "United States",
        40.7506,
        -73.9972,
    ),
    ("Austin", "TX", "78701", "United States", 30.2711, -97.7437),
    ("London", "", "EC2A 4NE", "United Kingdom", 51.5226, -0.0855),
    ("Paris", "", "75002", "France", 48.8682, 2.3414),
    ("München", "BY", "80331", "Germany", 48.1374, 11.5755),
    ("Tōkyō", "", "100-0005", "Japan", 35.6812, 139.7671),
    ("São Paulo", "SP", "01310-100", "Brazil", -23.5614, -46.6559),
    ("Sydney", "NSW", "2000", "Australia", -33.8688, 151.2093),
    ("Toronto", "ON", "M5H 2N2", "Canada", 43.6511, -79.3839),
];
const STREETS: &[&str] = &[
    "Market St",
    "Main Street",
    "Rue de Rivoli",
    "Königstraße",
    "High St",
    "Av. Paulista",
];

/// splitmix64: tiny, fast and good enough to make varied fake data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1): used for fault rates.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn object_seed(name: &str, n: u64) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) ^ n
}

fn company(rng: &mut Rng) -> String {
    match rng.below(40) {
        // Commas, quotes and ampersands: the values that break naive CSV handling.
        0 => format!(
            "{}, {} & \"{}\" {}",
            rng.pick(LAST),
            rng.pick(LAST),
            rng.pick(WORDS),
            rng.pick(SUFFIXES)
        ),
        _ => format!(
            "{} {} {}",
            rng.pick(WORDS),
            rng.pick(NOUNS),
            rng.pick(SUFFIXES)
        ),
    }
}

fn sentence(rng: &mut Rng) -> String {
    let mut s = format!(
        "{} {} account",
        rng.pick(WORDS),
        rng.pick(NOUNS).to_lowercase()
    );
    if rng.chance(30) {
        s.push_str(";\nfollow up with ");
        s.push_str(rng.pick(FIRST));
        s.push_str(" \u{2014} \"priority\", see notes");
    }
    s
}

/// A value for one field of a seeded record, or `None` to leave it empty.
fn generate(f: &FieldDef, rng: &mut Rng, seq: u64) -> Option<Value> {
    if !f.required() && f.ftype != T::Boolean && rng.chance(8) {
        return None;
    }
    let name = f.name.as_str();
    let city = CITIES[seq as usize % CITIES.len()];
    let component = f.compound_field_name.is_some();
    let text = |s: String| Some(Value::text(s));
    if component {
        let suffix = name;
        return match () {
            _ if suffix.ends_with("Street") => {
                text(format!("{} {}", 1 + rng.below(999), rng.pick(STREETS)))
            }
            _ if suffix.ends_with("City") => text(city.0.into()),
            _ if suffix.ends_with("State") => (!city.1.is_empty()).then(|| Value::text(city.1)),
            _ if suffix.ends_with("PostalCode") => text(city.2.into()),
            _ if suffix.ends_with("Country") => text(city.3.into()),
            _ if suffix.ends_with("Latitude") || suffix.ends_with("Latitude__s") => Some(
                Value::Float(((city.4 + rng.below(1000) as f64 / 100_000.0) * 1e6).round() / 1e6),
            ),
            _ if suffix.ends_with("Longitude") || suffix.ends_with("Longitude__s") => Some(
                Value::Float(((city.5 - rng.below(1000) as f64 / 100_000.0) * 1e6).round() / 1e6),
            ),
            _ if suffix.ends_with("GeocodeAccuracy") => {
                text(rng.pick(&["Address", "Street", "Zip"]).into())
            }
            _ => None,
        };
    }
    let v = match (name, f.ftype) {
        ("Name", _) | ("Company", _) => Value::text(company(rng)),
        ("FirstName", _) => Value::text(rng.pick(FIRST)),
        ("LastName", _) => Value::text(rng.pick(LAST)),
        ("Subject", _) => Value::text(format!("{} issue #{seq}", rng.pick(NOUNS))),
        ("Title", _) => Value::text(rng.pick(&[
            "CEO",
            "VP Sales",
            "Engineer",
            "Buyer",
            "CFO",
            "Director, IT",
        ])),
        ("Department", _) => Value::text(rng.pick(&["Sales", "Finance", "R&D", "Operations"])),
        ("AccountNumber", _) => Value::text(format!("CD{:06}", rng.below(1_000_000))),
        ("Sic", _) => Value::text(format!("{:04}", rng.below(10_000))),
        ("TickerSymbol", _) => Value::text(format!(
            "{}{}",
            rng.pick(&["AC", "GL", "PN", "VX"]),
            rng.pick(&["M", "X", "Q"])
        )),
        ("Site", _) => Value::text(city.0),
        ("YearStarted", _) => Value::text((1900 + rng.below(124)).to_string()),
        ("NextStep", _) => Value::text("Send proposal"),
        ("Languages__c", _) => {
            Value::text(rng.pick(&["English", "English;French", "日本語", "Deutsch"]))
        }
        ("StageName", _) => Value::text(rng.pick(crate::objects::STAGES)),
        ("Probability", _) => Value::Float((rng.below(11) * 10) as f64),
        ("AnnualRevenue", _) => Value::Float((rng.below(5_000) * 100_000) as f64),
        ("Amount", _) => Value::Float(rng.below(100_000_000) as f64 / 100.0),
        ("NumberOfEmployees", _) => Value::Int(1 + rng.below(250_000) as i64),
        (_, T::String | T::Combobox) => Value::text(format!("{} {}", rng.pick(WORDS), seq)),
        (_, T::TextArea) => Value::text(sentence(rng)),
        (_, T::Email) => Value::text(
            format!("{}.{}{}@example.com", rng.pick(FIRST), rng.pick(LAST), seq)
                .to_lowercase()
                .replace(['\'', ' '], ""),
        ),
        (_, T::Phone) => Value::text(format!(
            "({}) 555-{:04}",
            200 + rng.below(800),
            rng.below(10_000)
        )),
        (_, T::Url) => Value::text(format!(
            "https://www.{}.example.com",
            rng.pick(WORDS).to_lowercase().replace(' ', "")
        )),
        (_, T::EncryptedString) => Value::text(format!(
            "{:03}-{:02}-{:04}",
            rng.below(1000),
            rng.below(100),
            rng.below(10_000)
        )),
        (_, T::Picklist) if !f.picklist_values.is_empty() => Value::text(
            f.picklist_values[rng.below(f.picklist_values.len() as u64) as usize].as_str(),
        ),
        (_, T::MultiPicklist) if !f.picklist_values.is_empty() => {
            let n = f.picklist_values.len() as u64;
            let a = rng.below(n) as usize;
            let b = rng.below(n) as usize;
            if a == b {
                Value::text(f.picklist_values[a].as_str())
            } else {
                Value::text(format!(
                    "{};{}",
                    f.picklist_values[a.min(b)],
                    f.picklist_values[a.max(b)]
                ))
            }
        }
        (_, T::Boolean) => Value::Bool(rng.chance(50)),
        (_, T::Int) => Value::Int(rng.below(1_000_000) as i64 - 1000),
        (_, T::Long) => Value::Int(
            rng.below(9_000_000_000_000_000) as i64 * if rng.chance(10) { -1 } else { 1 },
        ),
        (_, T::Percent) => Value::Float(rng.below(10_000) as f64 / 100.0),
        (_, T::Double) => Value::Float(match rng.below(20) {
            0 => 1.0e15 + rng.below(1000) as f64,
            1 => -(rng.below(100_000) as f64) / 1000.0,
            _ => rng.below(1_000_000) as f64 / 1000.0,
        }),
        (_, T::Currency) => {
            let scale = 10f64.powi(f.scale as i32);
            Value::Float((rng.below(1_000_000_000) as f64 / scale).round())
        }
        (_, T::Date) => Value::Date(16_436 + rng.below(5_500) as i32), // 2015 .. 2030
        (_, T::DateTime) => {
            Value::DateTime(1_577_836_800_000 + rng.below(220_000_000) as i64 * 1000)
        }
        (_, T::Time) => Value::Time(rng.below(86_400) as i32 * 1000 + rng.below(1000) as i32),
        _ => return None,
    };
    // Keep generated numbers inside the field's precision, as real data must be.
    let v = match v {
        Value::Float(x) if f.precision > 0 => {
            let max = 10f64.powi(f.precision.saturating_sub(f.scale) as i32);
            Value::Float(if x.abs() >= max { x % max } else { x })
        }
        other => other,
    };
    Some(v)
}

/// Makes `count` records of `object`. Returns how many were made.
pub fn seed(store: &mut Store, object: &str, count: usize) -> Result<usize, String> {
    let table = store
        .table_index(object)
        .ok_or_else(|| format!("the org has no object named {object:?}"))?;
    let def = store.tables[table].def.clone();
    // Parents to hang children on: a sample of the live ids of each referenced object.
    let mut parents: Vec<(usize, Vec<String>)> = Vec::new();
    for (fi, f) in def.fields.iter().enumerate() {
        if f.ftype == T::Reference && f.createable && f.name != "OwnerId" {
            let ids: Vec<String> = f
                .reference_to
                .first()
                .and_then(|n| store.table(n))
                .filter(|t| t.def.name != def.name)
                .map(|t| {
                    t.rows
                        .iter()
                        .filter(|r| !r.deleted && !r.purged)
                        .take(100_000)
                        .map(|r| r.id().to_string())
                        .collect()
                })
                .unwrap_or_default();
            parents.push((fi, ids));
        }
    }
    let start = store.tables[table].rows.len() as u64;
    let prefix: String = def
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(3)
        .collect::<String>()
        .to_uppercase();
    for i in 0..count as u64 {
        let seq = start + i + 1;
        let mut rng = Rng::new(object_seed(&def.name, seq));
        let mut values = Vec::with_capacity(def.fields.len());
        for (fi, f) in def.fields.iter().enumerate() {
            if !f.createable || fi == IDX_ID {
                continue;
            }
            if f.ftype == T::Reference {
                if let Some((_, ids)) = parents.iter().find(|(p, _)| *p == fi) {
                    if !ids.is_empty()
                        && (f.name == "AccountId" || f.name == "ContactId")
                        && !rng.chance(5)
                    {
                        values.push((
                            fi,
                            Value::text(ids[rng.below(ids.len() as u64) as usize].as_str()),
                        ));
                    }
                }
                continue;
            }
            if f.external_id && f.unique {
                values.push((fi, Value::text(format!("{prefix}-{seq:08}"))));
                continue;
            }
            if f.unique && f.name == "Username" {
                values.push((fi, Value::text(format!("user{seq}@sfarrow.test"))));
                continue;
            }
            if let Some(v) = generate(f, &mut rng, seq) {
                values.push((fi, v));
            }
        }
        let step = SEED_SPAN_MS / (count as i64).max(1);
        let created = store.started - SEED_SPAN_MS + i as i64 * step;
        let modified = created + rng.below((store.started - created).max(1) as u64) as i64;
        store
            .insert_at(table, values, created, modified)
            .map_err(|e| {
                format!(
                    "seeding {object} failed on record {seq}: {} {}",
                    e.code, e.message
                )
            })?;
    }
    Ok(count)
}

/// The org's admin user, who owns everything and is who every session acts as.
pub fn admin_user(store: &mut Store) -> Result<String, String> {
    let table = store
        .table_index("User")
        .ok_or("the org has no User object")?;
    let def = store.tables[table].def.clone();
    let v = |name: &str, value: &str| def.field_index(name).map(|i| (i, Value::text(value)));
    let values: Vec<(usize, Value)> = [
        v("Username", crate::USERNAME),
        v("FirstName", "Emulator"),
        v("LastName", "Admin"),
        v("Email", crate::USERNAME),
        v("Alias", "admin"),
        v("TimeZoneSidKey", "GMT"),
        v("LocaleSidKey", "en_US"),
        v("EmailEncodingKey", "UTF-8"),
        v("LanguageLocaleKey", "en_US"),
        v("Title", "System Administrator"),
    ]
    .into_iter()
    .flatten()
    .chain(def.field_index("IsActive").map(|i| (i, Value::Bool(true))))
    .collect();
    let (id, _) = store
        .insert_at(
            table,
            values,
            store.started - SEED_SPAN_MS - 86_400_000,
            store.started - SEED_SPAN_MS - 86_400_000,
        )
        .map_err(|e| format!("could not create the admin user: {}", e.message))?;
    store.user_id = id.clone();
    let row = store.tables[table]
        .row_by_id(&id)
        .ok_or("admin user vanished")?;
    for name in ["CreatedById", "LastModifiedById"] {
        if let Some(i) = def.field_index(name) {
            store.tables[table].rows[row as usize].values[i] = Value::text(id.as_str());
        }
    }
    Ok(id)
}
