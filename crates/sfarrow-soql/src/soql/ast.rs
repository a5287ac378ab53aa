//! The SOQL syntax tree shared by the client (rewriting, API choice) and the emulator (execution).
//! `Display` renders a tree back to SOQL, so a parsed query can be rewritten and re-sent.

pub use crate::soql::date_literal::DateLiteral;

/// A dotted field path as written: `Name`, `Owner.Name`, `Account.Owner.Email`.
/// Case is kept as written; lookups compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<String>);

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    /// Object name (or child relationship name inside a subquery) as written.
    pub from: String,
    pub alias: Option<String>,
    pub where_clause: Option<Condition>,
    /// `WITH SECURITY_ENFORCED` and similar: kept for round-tripping, ignored by the emulator.
    pub with: Option<String>,
    pub group_by: Vec<FieldPath>,
    pub having: Option<Condition>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// `FOR VIEW`, `FOR REFERENCE`, `FOR UPDATE`: kept for round-tripping.
    pub for_clause: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    Field(FieldPath),
    /// `COUNT()`, `COUNT(Id)`, `MAX(Amount) maxAmount`, `COUNT_DISTINCT(Name)` ...
    /// `function` is upper-cased; `argument` is `None` only for `COUNT()`.
    Aggregate {
        function: String,
        argument: Option<FieldPath>,
        alias: Option<String>,
    },
    /// Date functions and `toLabel(...)`, `FORMAT(...)`, `convertCurrency(...)`: `function(path) alias`.
    Function {
        function: String,
        argument: FieldPath,
        alias: Option<String>,
    },
    /// `(SELECT ... FROM Contacts ...)`: a parent-to-child subquery.
    Subquery(Box<Query>),
    /// `FIELDS(ALL)`, `FIELDS(STANDARD)`, `FIELDS(CUSTOM)`; the kind is upper-cased.
    Fields(String),
    /// `TYPEOF What WHEN Account THEN Name ... ELSE Name END`, kept verbatim.
    TypeOf(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub field: FieldPath,
    pub descending: bool,
    /// `NULLS FIRST` = Some(true), `NULLS LAST` = Some(false), unspecified = None
    /// (Salesforce default: nulls first ascending, last descending).
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        field: FieldPath,
        op: CompareOp,
        value: Literal,
    },
    /// `field IN (...)` / `field NOT IN (...)`; a semi-join `IN (SELECT ...)` is `InQuery`.
    In {
        field: FieldPath,
        negated: bool,
        values: Vec<Literal>,
    },
    InQuery {
        field: FieldPath,
        negated: bool,
        query: Box<Query>,
    },
    /// Multi-select picklists: `INCLUDES ('a;b', 'c')` / `EXCLUDES (...)`.
    Includes {
        field: FieldPath,
        negated: bool,
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// Numbers keep their text so that `1.10` round-trips and currency compares exactly.
    Number(String),
    String(String),
    /// `2024-01-31`
    Date(chrono::NaiveDate),
    /// `2024-01-31T10:00:00Z`, `2024-01-31T10:00:00.000+02:00`: milliseconds since the epoch, UTC,
    /// plus the text as written for round-tripping.
    DateTime {
        millis: i64,
        text: String,
    },
    /// `TODAY`, `LAST_N_DAYS:30`, ...: one variant per keyword, with its `N` if it takes one.
    DateKeyword(DateLiteral),
}

impl Query {
    /// `SELECT select FROM from` and nothing more; the clauses are filled in after.
    pub fn new(select: Vec<SelectItem>, from: String) -> Query {
        Query {
            select,
            from,
            alias: None,
            where_clause: None,
            with: None,
            group_by: Vec::new(),
            having: None,
            order_by: Vec::new(),
            limit: None,
            offset: None,
            for_clause: None,
        }
    }
}

impl FieldPath {
    /// Splits `Account.Owner.Name` at the dots.
    pub fn from_dotted(path: &str) -> FieldPath {
        FieldPath(path.split('.').map(str::to_string).collect())
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Salesforce names are case-insensitive: `account.NAME` is `Account.Name`.
    pub fn eq_ignore_case(&self, other: &FieldPath) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// Where the grammar allows a function call in place of a field (`HAVING COUNT(Id) > 1`,
    /// `GROUP BY CALENDAR_YEAR(CreatedDate)`, `ORDER BY MAX(Amount)`), the parser stores the call
    /// as a one-segment path `NAME(arg.path)` (`COUNT()` for no argument; name as written).
    /// This splits such a path back into the function name and its argument.
    pub fn function_call(&self) -> Option<(&str, Option<FieldPath>)> {
        let [only] = self.0.as_slice() else {
            return None;
        };
        let (name, rest) = only.split_once('(')?;
        let arg = rest.strip_suffix(')')?;
        let arg = (!arg.is_empty()).then(|| FieldPath::from_dotted(arg));
        Some((name, arg))
    }
}
