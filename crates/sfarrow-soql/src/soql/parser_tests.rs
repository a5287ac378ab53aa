use crate::soql::ast::*;
use crate::soql::{parse, SoqlErrorKind};
use chrono::NaiveDate;

fn path(s: &str) -> FieldPath {
    FieldPath::from_dotted(s)
}

fn field(s: &str) -> SelectItem {
    SelectItem::Field(path(s))
}

fn cmp(f: &str, op: CompareOp, value: Literal) -> Condition {
    Condition::Compare {
        field: path(f),
        op,
        value,
    }
}

fn num(s: &str) -> Literal {
    Literal::Number(s.to_string())
}

fn string(s: &str) -> Literal {
    Literal::String(s.to_string())
}

fn where_of(soql: &str) -> Condition {
    parse(soql).unwrap().where_clause.unwrap()
}

fn cond(text: &str) -> Condition {
    where_of(&format!("SELECT Id FROM Account WHERE {text}"))
}

fn bare(from: &str, select: Vec<SelectItem>) -> Query {
    Query {
        select,
        from: from.to_string(),
        alias: None,
        where_clause: None,
        with: None,
        group_by: vec![],
        having: None,
        order_by: vec![],
        limit: None,
        offset: None,
        for_clause: None,
    }
}

#[test]
fn the_full_example() {
    let q = parse(
        "SELECT Id FROM Account WHERE Name LIKE 'A%' AND (Amount > 10.5 OR IsDeleted = false) \
         ORDER BY Name DESC NULLS LAST LIMIT 10 OFFSET 5",
    )
    .unwrap();
    let mut expected = bare("Account", vec![field("Id")]);
    expected.where_clause = Some(Condition::And(vec![
        cmp("Name", CompareOp::Like, string("A%")),
        Condition::Or(vec![
            cmp("Amount", CompareOp::Gt, num("10.5")),
            cmp("IsDeleted", CompareOp::Eq, Literal::Bool(false)),
        ]),
    ]));
    expected.order_by = vec![OrderItem {
        field: path("Name"),
        descending: true,
        nulls_first: Some(false),
    }];
    expected.limit = Some(10);
    expected.offset = Some(5);
    assert_eq!(q, expected);
}

#[test]
fn parent_to_child_subquery() {
    let q = parse("SELECT Name, (SELECT LastName FROM Contacts WHERE Email != null) FROM Account")
        .unwrap();
    let mut sub = bare("Contacts", vec![field("LastName")]);
    sub.where_clause = Some(cmp("Email", CompareOp::Ne, Literal::Null));
    assert_eq!(
        q,
        bare(
            "Account",
            vec![field("Name"), SelectItem::Subquery(Box::new(sub))]
        )
    );
}

#[test]
fn count_with_date_keyword() {
    let q = parse("SELECT COUNT() FROM Contact WHERE CreatedDate > LAST_N_DAYS:30").unwrap();
    let mut expected = bare(
        "Contact",
        vec![SelectItem::Aggregate {
            function: "COUNT".into(),
            argument: None,
            alias: None,
        }],
    );
    expected.where_clause = Some(cmp(
        "CreatedDate",
        CompareOp::Gt,
        Literal::DateKeyword(DateLiteral::LastNDays(30)),
    ));
    assert_eq!(q, expected);
}

#[test]
fn semi_join() {
    let c = where_of("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)");
    assert_eq!(
        c,
        Condition::InQuery {
            field: path("Id"),
            negated: false,
            query: Box::new(bare("Contact", vec![field("AccountId")])),
        }
    );
    let c = cond("Id NOT IN (SELECT AccountId FROM Contact WHERE Email = null)");
    assert!(matches!(c, Condition::InQuery { negated: true, .. }));
}

#[test]
fn select_items() {
    let q = parse(
        "SELECT Id, Owner.Profile.Name, COUNT(Id), count_distinct(Name) n, sum(Amount) total, \
         AVG(Amount), MIN(CloseDate), MAX(Amount) maxAmount, toLabel(Status), \
         FORMAT(Amount) amt, convertCurrency(Amount), CALENDAR_YEAR(CreatedDate) yr, \
         DAY_ONLY(CreatedDate), FIELDS(all), fields(Standard), FIELDS(CUSTOM) FROM Opportunity",
    )
    .unwrap();
    let agg = |f: &str, a: Option<&str>, alias: Option<&str>| SelectItem::Aggregate {
        function: f.into(),
        argument: a.map(path),
        alias: alias.map(Into::into),
    };
    let fun = |f: &str, a: &str, alias: Option<&str>| SelectItem::Function {
        function: f.into(),
        argument: path(a),
        alias: alias.map(Into::into),
    };
    assert_eq!(
        q.select,
        vec![
            field("Id"),
            field("Owner.Profile.Name"),
            agg("COUNT", Some("Id"), None),
            agg("COUNT_DISTINCT", Some("Name"), Some("n")),
            agg("SUM", Some("Amount"), Some("total")),
            agg("AVG", Some("Amount"), None),
            agg("MIN", Some("CloseDate"), None),
            agg("MAX", Some("Amount"), Some("maxAmount")),
            fun("toLabel", "Status", None),
            fun("FORMAT", "Amount", Some("amt")),
            fun("convertCurrency", "Amount", None),
            fun("CALENDAR_YEAR", "CreatedDate", Some("yr")),
            fun("DAY_ONLY", "CreatedDate", None),
            SelectItem::Fields("ALL".into()),
            SelectItem::Fields("STANDARD".into()),
            SelectItem::Fields("CUSTOM".into()),
        ]
    );
}

#[test]
fn typeof_is_verbatim() {
    let q = parse(
        "SELECT Id, TYPEOF What WHEN Account THEN Phone, NumberOfEmployees \
         WHEN Opportunity THEN Amount ELSE Name END, Subject FROM Event",
    )
    .unwrap();
    assert_eq!(
        q.select[1],
        SelectItem::TypeOf(
            "TYPEOF What WHEN Account THEN Phone, NumberOfEmployees \
             WHEN Opportunity THEN Amount ELSE Name END"
                .into()
        )
    );
    assert_eq!(q.select[2], field("Subject"));
    assert!(parse("SELECT TYPEOF What WHEN Account THEN Phone FROM Event").is_err());
    // A field that happens to be called TypeOf is still a field.
    let q = parse("SELECT TypeOf FROM Thing").unwrap();
    assert_eq!(q.select, vec![field("TypeOf")]);
}

#[test]
fn from_alias_and_clause_words() {
    let q = parse("SELECT c.Name FROM Contact c WHERE c.Email != null").unwrap();
    assert_eq!(q.alias.as_deref(), Some("c"));
    assert_eq!(q.select, vec![field("c.Name")]);
    // Salesforce object names may collide with keywords; FROM takes any name.
    let q = parse("SELECT Id FROM Group WHERE Type = 'Queue'").unwrap();
    assert_eq!((q.from.as_str(), q.alias), ("Group", None));
    let q = parse("SELECT Id FROM Account LIMIT 1").unwrap();
    assert_eq!((q.alias, q.limit), (None, Some(1)));
}

#[test]
fn precedence_not_and_or() {
    let a = || cmp("A", CompareOp::Eq, num("1"));
    let b = || cmp("B", CompareOp::Eq, num("2"));
    let c = || cmp("C", CompareOp::Eq, num("3"));
    let not = |x: Condition| Condition::Not(Box::new(x));
    // Salesforce refuses AND and OR mixed at one level: the second keyword is unexpected.
    for mixed in [
        "SELECT Id FROM A WHERE A = 1 OR B = 2 AND C = 3",
        "SELECT Id FROM A WHERE A = 1 AND B = 2 OR C = 3",
        "SELECT Id FROM A WHERE (A = 1 AND B = 2 OR C = 3)",
        "SELECT Id FROM A WHERE NOT A = 1 AND B = 2 OR C = 3",
    ] {
        let e = parse(mixed).unwrap_err();
        assert!(e.message.starts_with("unexpected token: '"), "{mixed}: {e}");
    }
    assert_eq!(
        cond("A = 1 OR (B = 2 AND C = 3)"),
        Condition::Or(vec![a(), Condition::And(vec![b(), c()])])
    );
    assert_eq!(
        cond("(A = 1 OR B = 2) AND C = 3"),
        Condition::And(vec![Condition::Or(vec![a(), b()]), c()])
    );
    assert_eq!(
        cond("NOT A = 1 AND B = 2"),
        Condition::And(vec![not(a()), b()])
    );
    assert_eq!(
        cond("NOT (A = 1 AND B = 2)"),
        not(Condition::And(vec![a(), b()]))
    );
    assert_eq!(cond("NOT NOT A = 1"), not(not(a())));
    assert_eq!(
        cond("A = 1 OR B = 2 OR C = 3"),
        Condition::Or(vec![a(), b(), c()])
    );
    assert_eq!(
        cond("A = 1 and B = 2 AnD C = 3"),
        Condition::And(vec![a(), b(), c()])
    );
    assert_eq!(cond("((A = 1))"), a());
    assert_eq!(
        cond("(A = 1 OR B = 2) OR C = 3"),
        Condition::Or(vec![Condition::Or(vec![a(), b()]), c()])
    );
}

#[test]
fn comparison_operators() {
    let ops = [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<>", CompareOp::Ne),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        (">=", CompareOp::Ge),
        ("like", CompareOp::Like),
    ];
    for (text, op) in ops {
        assert_eq!(
            cond(&format!("X {text} 5")),
            cmp("X", op, num("5")),
            "{text}"
        );
    }
    assert_eq!(cond("X>=-5"), cmp("X", CompareOp::Ge, num("-5")));
}

#[test]
fn in_and_includes() {
    assert_eq!(
        cond("Stage IN ('A', 'B', null)"),
        Condition::In {
            field: path("Stage"),
            negated: false,
            values: vec![string("A"), string("B"), Literal::Null],
        }
    );
    assert_eq!(
        cond("Amount not in (1, 2.5)"),
        Condition::In {
            field: path("Amount"),
            negated: true,
            values: vec![num("1"), num("2.5")],
        }
    );
    assert_eq!(
        cond("Tags__c INCLUDES ('a;b', 'c')"),
        Condition::Includes {
            field: path("Tags__c"),
            negated: false,
            values: vec!["a;b".into(), "c".into()],
        }
    );
    assert_eq!(
        cond("Tags__c excludes ('x')"),
        Condition::Includes {
            field: path("Tags__c"),
            negated: true,
            values: vec!["x".into()],
        }
    );
    assert!(parse("SELECT Id FROM A WHERE X IN ()").is_err());
    assert!(parse("SELECT Id FROM A WHERE X INCLUDES (1)").is_err());
}

#[test]
fn literals() {
    let value = |text: &str| match cond(&format!("X = {text}")) {
        Condition::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(value("NULL"), Literal::Null);
    assert_eq!(value("True"), Literal::Bool(true));
    assert_eq!(value("FALSE"), Literal::Bool(false));
    assert_eq!(value("1.10"), num("1.10"));
    assert_eq!(value("'it\\'s'"), string("it's"));
    assert_eq!(
        value("2024-01-31"),
        Literal::Date(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
    );
    assert_eq!(
        value("2024-01-31T12:00:00+02:00"),
        Literal::DateTime {
            millis: 1_706_695_200_000,
            text: "2024-01-31T12:00:00+02:00".into()
        }
    );
    assert!(parse("SELECT Id FROM A WHERE X = Y").is_err());
}

#[test]
fn date_keywords() {
    let plain = [
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_QUARTER",
        "LAST_QUARTER",
        "NEXT_QUARTER",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    ];
    for kw in plain {
        let expected = cmp(
            "D",
            CompareOp::Eq,
            Literal::DateKeyword(DateLiteral::plain(kw).unwrap()),
        );
        assert_eq!(cond(&format!("D = {}", kw.to_lowercase())), expected);
    }
    let with_n = [
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
        "N_DAYS_AGO",
    ];
    for kw in with_n {
        let expected = cmp(
            "D",
            CompareOp::Ge,
            Literal::DateKeyword(DateLiteral::with_n(kw).unwrap()(7)),
        );
        assert_eq!(cond(&format!("D >= {kw}:7")), expected);
        assert!(parse(&format!("SELECT Id FROM A WHERE D = {kw}")).is_err());
        assert!(parse(&format!("SELECT Id FROM A WHERE D = {kw}:-1")).is_err());
        assert!(parse(&format!("SELECT Id FROM A WHERE D = {kw}:1.5")).is_err());
    }
    assert!(parse("SELECT Id FROM A WHERE D = TODAY:3").is_err());
}

#[test]
fn clauses() {
    let q = parse(
        "select Name, count(Id) c from Account where Name != null with SECURITY_ENFORCED \
         group by Name having count(Id) > 1 order by Name asc nulls first, count(Id) desc \
         limit 5 offset 2 for view",
    )
    .unwrap();
    assert_eq!(q.with.as_deref(), Some("SECURITY_ENFORCED"));
    assert_eq!(q.group_by, vec![path("Name")]);
    assert_eq!(
        q.having,
        Some(Condition::Compare {
            field: FieldPath(vec!["count(Id)".into()]),
            op: CompareOp::Gt,
            value: num("1"),
        })
    );
    assert_eq!(
        q.order_by,
        vec![
            OrderItem {
                field: path("Name"),
                descending: false,
                nulls_first: Some(true),
            },
            OrderItem {
                field: FieldPath(vec!["count(Id)".into()]),
                descending: true,
                nulls_first: None,
            },
        ]
    );
    assert_eq!((q.limit, q.offset), (Some(5), Some(2)));
    assert_eq!(q.for_clause.as_deref(), Some("VIEW"));
    for kind in ["REFERENCE", "UPDATE"] {
        let q = parse(&format!("SELECT Id FROM A FOR {}", kind.to_lowercase())).unwrap();
        assert_eq!(q.for_clause.as_deref(), Some(kind));
    }
}

#[test]
fn function_operands() {
    let q = parse(
        "SELECT CALENDAR_YEAR(CreatedDate), COUNT() FROM Account \
         WHERE CALENDAR_YEAR(CreatedDate) = 2024 GROUP BY CALENDAR_YEAR(CreatedDate) \
         HAVING COUNT() > 2 ORDER BY MAX(Owner.Name)",
    )
    .unwrap();
    assert_eq!(
        q.group_by[0].function_call(),
        Some(("CALENDAR_YEAR", Some(path("CreatedDate"))))
    );
    match q.having.unwrap() {
        Condition::Compare { field, .. } => {
            assert_eq!(field.function_call(), Some(("COUNT", None)))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        q.order_by[0].field.function_call(),
        Some(("MAX", Some(path("Owner.Name"))))
    );
    assert_eq!(path("Owner.Name").function_call(), None);
}

#[test]
fn with_clause_text_stops_at_next_clause() {
    let q = parse(
        "SELECT Title FROM KnowledgeArticleVersion WHERE PublishStatus = 'Online' \
         WITH DATA CATEGORY Geography__c AT (usa__c, uk__c) ORDER BY Title LIMIT 3",
    )
    .unwrap();
    assert_eq!(
        q.with.as_deref(),
        Some("DATA CATEGORY Geography__c AT (usa__c, uk__c)")
    );
    assert_eq!(q.order_by.len(), 1);
    let q = parse("SELECT Name, (SELECT Id FROM Contacts WITH USER_MODE) FROM Account").unwrap();
    match &q.select[1] {
        SelectItem::Subquery(sub) => assert_eq!(sub.with.as_deref(), Some("USER_MODE")),
        other => panic!("{other:?}"),
    }
    assert!(parse("SELECT Id FROM A WITH").is_err());
    assert!(parse("SELECT Id FROM A WITH LIMIT 1").is_err());
}

#[test]
fn keywords_are_case_insensitive() {
    let upper = parse(
        "SELECT Id FROM Account WHERE A = TRUE AND B IN (1) ORDER BY Id DESC NULLS LAST LIMIT 1",
    )
    .unwrap();
    let lower = parse(
        "select Id from Account where A = true and B in (1) order by Id desc nulls last limit 1",
    )
    .unwrap();
    let mixed = parse(
        "SeLeCt Id FrOm Account WhErE A = tRuE aNd B In (1) OrDeR bY Id DeSc NuLlS lAsT lImIt 1",
    )
    .unwrap();
    assert_eq!(upper, lower);
    assert_eq!(upper, mixed);
}

#[test]
fn whitespace_and_newlines() {
    let q = parse("\n  SELECT\tId ,Name\r\n FROM\n Account\n").unwrap();
    assert_eq!(q, bare("Account", vec![field("Id"), field("Name")]));
}

#[test]
fn limits_out_of_range() {
    let err = parse("SELECT Id FROM A LIMIT 99999999999999999999999").unwrap_err();
    assert_eq!(err.kind, SoqlErrorKind::InvalidLiteral);
    assert!(parse("SELECT Id FROM A LIMIT -1").is_err());
    assert!(parse("SELECT Id FROM A LIMIT 1.5").is_err());
    assert!(parse("SELECT Id FROM A OFFSET x").is_err());
}
