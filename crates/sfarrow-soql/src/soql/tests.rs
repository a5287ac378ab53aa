//! Whole-module tests: error reporting, Display round trips, query inspection, robustness.

use super::*;

const QUERIES: &[&str] = &[
    "SELECT Id FROM Account",
    "SELECT Id, Name, Owner.Profile.Name FROM Account",
    "SELECT Id FROM Account WHERE Name LIKE 'A%' AND (Amount > 10.5 OR IsDeleted = false) \
     ORDER BY Name DESC NULLS LAST LIMIT 10 OFFSET 5",
    "SELECT Name, (SELECT LastName FROM Contacts WHERE Email != null) FROM Account",
    "SELECT COUNT() FROM Contact WHERE CreatedDate > LAST_N_DAYS:30",
    "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
    "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact WHERE Email = null)",
    "SELECT COUNT(Id), MAX(Amount) maxAmount, count_distinct(Name) FROM Opportunity",
    "SELECT toLabel(StageName), FORMAT(Amount) amt, convertCurrency(Amount) FROM Opportunity",
    "SELECT CALENDAR_YEAR(CreatedDate) yr, COUNT(Id) c FROM Account \
     GROUP BY CALENDAR_YEAR(CreatedDate) HAVING COUNT(Id) > 1 ORDER BY CALENDAR_YEAR(CreatedDate)",
    "SELECT FIELDS(ALL) FROM Account LIMIT 200",
    "SELECT FIELDS(standard), Id FROM Contact",
    "SELECT Id, TYPEOF What WHEN Account THEN Phone ELSE Name END FROM Event",
    "SELECT c.Id FROM Contact c WHERE c.Account.Name = 'Acme'",
    "SELECT Id FROM Account WHERE NOT Name = 'x'",
    "SELECT Id FROM Account WHERE NOT (A = 1 OR B = 2) AND C = 3",
    "SELECT Id FROM Account WHERE (A = 1 OR B = 2) OR (C = 3 AND D = 4)",
    "SELECT Id FROM Account WHERE (A = 1 AND B = 2) AND C = 3",
    "SELECT Id FROM Account WHERE (A = 1 AND B = 2) OR (C = 3 AND NOT NOT D = 4)",
    "SELECT Id FROM Account WHERE A = 1 OR (B = 2 AND (C = 3 OR D = 4))",
    "SELECT Id FROM Account WHERE Name IN ('a', 'b\\'', 'c') ",
    "SELECT Id FROM Account WHERE Amount NOT IN (1, -2.5, 3e10, .5, +7)",
    "SELECT Id FROM Account WHERE Tags__c INCLUDES ('a;b', 'c') AND Tags__c EXCLUDES ('d')",
    "SELECT Id FROM Account WHERE Name = 'it\\'s \\\\ \\n \\r \\t \\b \\f \\\" done'",
    "SELECT Id FROM Account WHERE Name LIKE '100\\% \\_ \\\\%'",
    "SELECT Id FROM Account WHERE CloseDate = 2024-01-31 AND CreatedDate < 2024-01-31T10:00:00.000+02:00",
    "SELECT Id FROM Account WHERE CreatedDate >= 2024-01-31T10:00:00Z AND CreatedDate < 2024-02-01T00:00:00-0500",
    "SELECT Id FROM Account WHERE D = TODAY OR D = LAST_90_DAYS OR D = N_DAYS_AGO:3 OR D = next_n_years:2",
    "SELECT Id FROM Account WHERE A = null AND B = TRUE AND C = false",
    "SELECT Id FROM Account WHERE A != 1 AND B <> 2 AND C < 3 AND D <= 4 AND E > 5 AND F >= 6",
    "SELECT Id FROM Account WITH SECURITY_ENFORCED",
    "SELECT Title FROM KnowledgeArticleVersion WHERE PublishStatus = 'Online' \
     WITH DATA CATEGORY Geography__c AT (usa__c, uk__c) ORDER BY Title",
    "SELECT Id FROM Account ORDER BY Name, Id DESC, CreatedDate ASC NULLS FIRST",
    "SELECT Id FROM Account LIMIT 1 FOR VIEW",
    "SELECT Id FROM Account FOR REFERENCE",
    "SELECT Id FROM Account WHERE Id = '001' FOR UPDATE",
    "SELECT Id FROM Group WHERE Type = 'Queue'",
    "SELECT Group.Name FROM GroupMember",
    "SELECT Id FROM Order ORDER BY Id",
    "SELECT Name, (SELECT Id, (SELECT Id FROM Cases) FROM Contacts LIMIT 5) FROM Account",
    "select id from account where name = 'x' order by name limit 1",
    "SELECT Id FROM Account WHERE Name = 'héllo wörld ✓'",
];

/// Every date keyword the parser knows, in any case, alone or with its `N`, displays back as
/// Salesforce spells it.
#[test]
fn date_literals_round_trip() {
    for (keyword, date) in PLAIN_KEYWORDS {
        for written in [keyword.to_string(), keyword.to_lowercase()] {
            let q = parse(&format!("SELECT Id FROM A WHERE D = {written}")).unwrap();
            let Some(Condition::Compare { value, .. }) = &q.where_clause else {
                panic!("{written}: not a comparison");
            };
            assert_eq!(*value, Literal::DateKeyword(date));
            assert_eq!(
                q.to_string(),
                format!("SELECT Id FROM A WHERE D = {keyword}")
            );
        }
    }
    for (keyword, make) in N_KEYWORDS {
        for n in [0, 7, u32::MAX] {
            let written = format!("{}:{n}", keyword.to_lowercase());
            let q = parse(&format!("SELECT Id FROM A WHERE D > {written}")).unwrap();
            let Some(Condition::Compare { value, .. }) = &q.where_clause else {
                panic!("{written}: not a comparison");
            };
            assert_eq!(*value, Literal::DateKeyword(make(n)));
            assert_eq!(
                q.to_string(),
                format!("SELECT Id FROM A WHERE D > {keyword}:{n}")
            );
        }
        assert!(parse(&format!("SELECT Id FROM A WHERE D > {keyword}:4294967296")).is_err());
    }
}

#[test]
fn display_round_trips() {
    for soql in QUERIES {
        let query = parse(soql).unwrap_or_else(|e| panic!("{soql}: {e}"));
        let rendered = query.to_string();
        let reparsed = parse(&rendered).unwrap_or_else(|e| panic!("{rendered}: {e}"));
        assert_eq!(query, reparsed, "{soql}\n{rendered}");
        assert_eq!(rendered, reparsed.to_string(), "rendering is a fixed point");
    }
    assert!(QUERIES.len() >= 40);
}

#[test]
fn display_text() {
    let cases = [
        (
            "select id, count(Id) c from account a where (x = 1 or y <> 2) and not z like 'q%' \
             group by id having count(id) > 1 order by id desc nulls last limit 3 offset 1 for view",
            "SELECT id, COUNT(Id) c FROM account a WHERE (x = 1 OR y != 2) AND NOT (z LIKE 'q%') \
             GROUP BY id HAVING count(id) > 1 ORDER BY id DESC NULLS LAST LIMIT 3 OFFSET 1 FOR VIEW",
        ),
        (
            "SELECT COUNT() FROM Contact WHERE CreatedDate > last_n_days:30",
            "SELECT COUNT() FROM Contact WHERE CreatedDate > LAST_N_DAYS:30",
        ),
        (
            "SELECT Id FROM A WHERE B IN ( SELECT C FROM D ) AND E IN ('x',null,TRUE)",
            "SELECT Id FROM A WHERE B IN (SELECT C FROM D) AND E IN ('x', null, true)",
        ),
        (
            "SELECT Id FROM A WHERE T INCLUDES('a;b') AND D = 2024-1-1T00:00:00Z",
            "",
        ),
    ];
    for (input, expected) in cases {
        match parse(input) {
            Ok(q) => assert_eq!(q.to_string(), expected),
            Err(_) => assert!(expected.is_empty(), "{input}"),
        }
    }
}

#[test]
fn quoting_strings() {
    assert_eq!(quote_string("plain"), "'plain'");
    assert_eq!(quote_string("it's"), r"'it\'s'");
    assert_eq!(quote_string("a\\b"), r"'a\\b'");
    assert_eq!(quote_string("\n\r\t\u{8}\u{c}\""), "'\\n\\r\\t\\b\\f\"'");
    assert_eq!(
        quote_string(r"100\%"),
        r"'100\%'",
        "LIKE escapes keep their meaning"
    );
    assert_eq!(quote_string(r"a\_b"), r"'a\_b'");
    assert_eq!(quote_string(""), "''");
    for value in ["", "x'y\\z", "tab\there", "\\\\%", "end\\", "✓ ünïcode"] {
        let soql = format!("SELECT Id FROM A WHERE N = {}", quote_string(value));
        match parse(&soql).unwrap().where_clause {
            Some(Condition::Compare { value: v, .. }) => {
                assert_eq!(v, Literal::String(value.to_string()), "{soql}");
            }
            other => panic!("{other:?}"),
        }
    }
}

fn error(soql: &str) -> SoqlError {
    match parse(soql) {
        Ok(q) => panic!("{soql} parsed as {q:?}"),
        Err(e) => e,
    }
}

#[test]
fn error_messages_and_positions() {
    let cases: &[(&str, &str, usize, usize)] = &[
        ("SELECT FROM Account", "unexpected token: 'FROM'", 1, 8),
        (
            "SELECT Id FROM Account WHERE",
            "unexpected token: <EOF>",
            1,
            29,
        ),
        ("SELECT Id, FROM Account", "unexpected token: 'FROM'", 1, 12),
        ("SELECT Id FROM", "unexpected token: <EOF>", 1, 15),
        ("SELECT Id Account", "unexpected token: 'Account'", 1, 11),
        ("FROM Account", "unexpected token: 'FROM'", 1, 1),
        ("", "unexpected token: <EOF>", 1, 1),
        (
            "SELECT Id FROM Account WHERE Name = 'x' AND",
            "unexpected token: <EOF>",
            1,
            44,
        ),
        (
            "SELECT Id FROM Account WHERE Name 'x'",
            "unexpected token: ''x''",
            1,
            35,
        ),
        (
            "SELECT Id FROM Account WHERE Name = Bob",
            "unexpected token: 'Bob'",
            1,
            37,
        ),
        (
            "SELECT Id FROM Account LIMIT 5 LIMIT 6",
            "unexpected token: 'LIMIT'",
            1,
            32,
        ),
        (
            "SELECT Id FROM Account ORDER Name",
            "unexpected token: 'ORDER'",
            1,
            24,
        ),
        (
            "SELECT Id FROM Account WHERE (A = 1",
            "unexpected token: <EOF>",
            1,
            36,
        ),
        (
            "SELECT Id FROM Account WHERE A = 1)",
            "unexpected token: ')'",
            1,
            35,
        ),
        (
            "SELECT FIELDS(SOME) FROM Account",
            "unexpected token: 'SOME'",
            1,
            15,
        ),
        ("SELECT SUM() FROM Account", "unexpected token: ')'", 1, 12),
        (
            "SELECT Id FROM Account FOR SHARE",
            "unexpected token: 'SHARE'",
            1,
            28,
        ),
        (
            "SELECT Id FROM Account USING SCOPE Mine",
            "unexpected token: 'USING'",
            1,
            24,
        ),
        (
            "SELECT Id\nFROM Account\nWHERE Name = = 'x'",
            "unexpected token: '='",
            3,
            14,
        ),
        (
            "SELECT Id FROM Account WHERE Name = %",
            "line 1:36 no viable alternative at character '%'",
            1,
            37,
        ),
        (
            "SELECT Id\n  FROM Account WHERE Name = \"x\"",
            "line 2:28 no viable alternative at character '\"'",
            2,
            29,
        ),
    ];
    for &(soql, message, row, column) in cases {
        let err = error(soql);
        assert_eq!(
            (err.message.as_str(), err.row, err.column),
            (message, row, column),
            "{soql}"
        );
        assert_eq!(err.kind, SoqlErrorKind::Malformed, "{soql}");
        assert_eq!(err.kind.error_code(), "MALFORMED_QUERY");
    }
}

#[test]
fn salesforce_caret_layout() {
    let soql = "SELECT Id FROM Account WHERE";
    let err = error(soql);
    assert_eq!(
        err.salesforce_message(soql),
        "\nSELECT Id FROM Account WHERE\n                            ^\n\
         ERROR at Row:1:Column:29\nunexpected token: <EOF>"
    );
    let soql = "SELECT Id\r\nFROM Account\r\nWHERE Name = = 'x'";
    let err = error(soql);
    assert_eq!(
        err.salesforce_message(soql),
        "\nWHERE Name = = 'x'\n             ^\nERROR at Row:3:Column:14\nunexpected token: '='"
    );
    assert_eq!(err.to_string(), "unexpected token: '=' (row 3, column 14)");
}

#[test]
fn count_only_and_aggregates() {
    let q = |s: &str| parse(s).unwrap();
    assert!(q("SELECT COUNT() FROM Contact").is_count_only());
    assert!(q("select count() from Contact where Name = 'x'").is_count_only());
    assert!(!q("SELECT COUNT(Id) FROM Contact").is_count_only());
    assert!(!q("SELECT COUNT(), Name FROM Contact GROUP BY Name").is_count_only());
    assert!(!q("SELECT Id FROM Contact").is_count_only());

    assert!(q("SELECT COUNT() FROM Contact").has_aggregates());
    assert!(q("SELECT MAX(Amount) FROM Opportunity").has_aggregates());
    assert!(q("SELECT Name FROM Account GROUP BY Name").has_aggregates());
    assert!(!q("SELECT Name, toLabel(Status) FROM Account").has_aggregates());
    assert!(!q("SELECT Name, (SELECT COUNT() FROM Contacts) FROM Account").has_aggregates());
}

#[test]
fn bulk_support() {
    let reason = |s: &str| parse(s).unwrap().bulk_unsupported_reason();
    assert_eq!(
        reason("SELECT Id, Owner.Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact) LIMIT 5"),
        None
    );
    assert_eq!(
        reason("SELECT Id FROM Account WITH SECURITY_ENFORCED ORDER BY Id"),
        None
    );
    assert_eq!(reason("SELECT toLabel(Status) FROM Case"), None);
    for (soql, word) in [
        ("SELECT COUNT() FROM Account", "COUNT()"),
        ("SELECT MAX(Amount) FROM Opportunity", "aggregate"),
        ("SELECT Name FROM Account GROUP BY Name", "GROUP BY"),
        ("SELECT Id FROM Account OFFSET 10", "OFFSET"),
        (
            "SELECT TYPEOF What WHEN Account THEN Name END FROM Event",
            "TYPEOF",
        ),
        (
            "SELECT Name, (SELECT Id FROM Contacts) FROM Account",
            "subqueries",
        ),
        ("SELECT FIELDS(STANDARD) FROM Account", "FIELDS"),
    ] {
        let why = reason(soql).unwrap_or_else(|| panic!("{soql}"));
        assert!(why.contains(word), "{soql}: {why}");
    }
}

#[test]
fn field_paths_and_helpers() {
    let q =
        parse("SELECT Id, COUNT(Id), Account.Name, toLabel(X), (SELECT Id FROM Cs) FROM Contact")
            .unwrap();
    let paths: Vec<String> = q.field_paths().map(ToString::to_string).collect();
    assert_eq!(paths, vec!["Id", "Account.Name"]);

    let a = FieldPath::from_dotted("Account.Owner.Name");
    assert_eq!(a.segments(), ["Account", "Owner", "Name"]);
    assert_eq!(a.to_string(), "Account.Owner.Name");
    assert!(a.eq_ignore_case(&FieldPath::from_dotted("account.OWNER.name")));
    assert!(!a.eq_ignore_case(&FieldPath::from_dotted("Account.Owner")));
    assert!(!a.eq_ignore_case(&FieldPath::from_dotted("Account.Owner.Email")));
}

/// A small deterministic generator, so failures reproduce without extra dependencies.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Anything that parses must also render and parse back to the same tree.
fn check(input: &str) {
    match parse(input) {
        Ok(query) => {
            let rendered = query.to_string();
            match parse(&rendered) {
                Ok(again) => assert_eq!(query, again, "{input:?} -> {rendered:?}"),
                Err(e) => panic!("{input:?} -> {rendered:?}: {e}"),
            }
        }
        Err(err) => {
            let _ = err.salesforce_message(input);
        }
    }
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "INCLUDES",
        "GROUP",
        "BY",
        "HAVING",
        "ORDER",
        "LIMIT",
        "OFFSET",
        "FOR",
        "VIEW",
        "WITH",
        "TYPEOF",
        "END",
        "WHEN",
        "COUNT",
        "FIELDS",
        "ALL",
        "NULLS",
        "LAST",
        "DESC",
        "LAST_N_DAYS",
        "TODAY",
        "null",
        "Id",
        "Name",
        "A.B",
        "(",
        ")",
        ",",
        ".",
        ":",
        "=",
        "!=",
        "<>",
        "<",
        ">=",
        "!",
        "'",
        "'x'",
        "\\",
        "\\'",
        "1",
        "-2.5",
        "1e",
        "2024-01-31",
        "2024-02-30",
        "T10:00:00Z",
        "2024-01-31T10:00:00+02:00",
        "+",
        "-",
        "%",
        "\"",
        "é",
        "✓",
        " ",
        " ",
        " ",
        "\n",
        "\t",
    ];
    let mut rng = XorShift(0x5EED_CAFE_F00D_1234);
    for _ in 0..600 {
        let len = rng.below(25);
        let text: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        check(&text);
        let with_spaces: Vec<&str> = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        check(&with_spaces.join(" "));
    }
    for _ in 0..300 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        check(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn truncations_and_mutations_never_panic() {
    let mut rng = XorShift(42);
    for soql in QUERIES {
        for (i, _) in soql.char_indices() {
            check(&soql[..i]);
            check(&soql[i..]);
        }
        for _ in 0..20 {
            let chars: Vec<char> = soql.chars().collect();
            let cut = rng.below(chars.len());
            let mut mutated: Vec<char> = chars.clone();
            match rng.below(3) {
                0 => {
                    mutated.remove(cut);
                }
                1 => mutated.insert(cut, chars[rng.below(chars.len())]),
                _ => mutated.swap(cut, rng.below(chars.len())),
            }
            check(&mutated.into_iter().collect::<String>());
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        "SELECT Id FROM A WHERE {}X = 1{}",
        "(".repeat(50_000),
        ")".repeat(50_000)
    );
    assert!(error(&deep).message.contains("nested too deeply"));
    let nots = format!("SELECT Id FROM A WHERE {}X = 1", "NOT ".repeat(50_000));
    assert!(error(&nots).message.contains("nested too deeply"));
    let mut subqueries = String::from("SELECT Id FROM A");
    for _ in 0..500 {
        subqueries = format!("SELECT Id FROM A WHERE Id IN ({subqueries})");
    }
    assert!(error(&subqueries).message.contains("nested too deeply"));
    // Reasonable nesting still parses.
    let fine = format!(
        "SELECT Id FROM A WHERE {}X = 1{}",
        "(".repeat(50),
        ")".repeat(50)
    );
    check(&fine);
}
