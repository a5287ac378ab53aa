//! The client crate end to end against the emulator crate, inside `cargo test`: connecting,
//! reading through REST and Bulk into one schema, writing with one outcome per row, and not
//! writing twice when an answer is lost.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use sfarrow_client::client::connect::{connect, Hooks, Login};
use sfarrow_client::client::{Client, Environment, Options, Secret};
use sfarrow_client::read::{self, DescribeCache, ReadOptions};
use sfarrow_client::write::{self, WriteOptions, Writer};
use sfarrow_emulator::{Config, FaultSpec, Org};
use std::sync::Arc;

fn org(accounts: usize) -> Org {
    let config = Config {
        https_port: None,
        ..Config::default()
    };
    let org = Org::start(config).expect("the emulator starts");
    org.seed("Account", accounts).expect("seeding works");
    org
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn session(org: &Org) -> Client {
    let login = Login::Session {
        instance_url: org.identity.url.clone(),
        access_token: Secret::new(org.identity.access_token.clone()),
    };
    connect(login, Options::default(), Hooks::default())
        .await
        .expect("connects")
}

async fn read_all(
    client: &Arc<Client>,
    soql: &str,
    api: &str,
) -> (Vec<String>, arrow_schema::SchemaRef) {
    let cache = Arc::new(DescribeCache::default());
    let opts = ReadOptions::new(api, false, 1_000_000, 700, 2).expect("options");
    let mut stream = read::start(client.clone(), cache, soql, opts)
        .await
        .expect("the read starts");
    let mut ids = Vec::new();
    while let Some(batch) = stream.batches.recv().await {
        let batch = batch.expect("a batch");
        ids.extend(
            batch
                .column(0)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or_default().to_string()),
        );
    }
    (ids, stream.schema)
}

#[test]
fn rest_and_bulk_read_the_same_rows_into_the_same_schema() {
    let org = org(2500);
    runtime().block_on(async {
        let client = Arc::new(session(&org).await);
        let soql = "SELECT Id, Name, AnnualRevenue, BillingAddress, CreatedDate FROM Account";
        let (rest, rest_schema) = read_all(&client, soql, "rest").await;
        let (bulk, bulk_schema) = read_all(&client, soql, "bulk").await;
        assert_eq!(rest.len(), 2500);
        let (mut a, mut b) = (rest.clone(), bulk.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b);
        let fields = |s: &arrow_schema::SchemaRef| s.fields().iter().cloned().collect::<Vec<_>>();
        assert_eq!(fields(&rest_schema), fields(&bulk_schema));
        assert_eq!(
            rest_schema
                .metadata()
                .get("sfarrow.api")
                .map(String::as_str),
            Some("rest")
        );
    });
}

async fn insert(client: &Arc<Client>, names: Vec<String>) -> RecordBatch {
    let cache = DescribeCache::default();
    let info = cache.get(client, "Account").await.expect("describe");
    let column: ArrayRef = Arc::new(StringArray::from(names));
    let batch = RecordBatch::try_from_iter([("Name", column)]).expect("a batch");
    let (op, opts) =
        WriteOptions::for_operation("insert", "rest", false, 1000, 2).expect("options");
    let plan = write::plan(&info, op, &batch.schema(), None).expect("a plan");
    let mut writer = Writer::new(client.clone(), plan, opts);
    writer.push(batch).await.expect("pushed");
    writer.finish().await.result
}

#[test]
fn a_write_has_one_outcome_per_row_and_an_insert_whose_answer_is_cut_is_not_sent_again() {
    let org = org(0);
    runtime().block_on(async {
        let client = Arc::new(session(&org).await);
        let names: Vec<String> = (0..450).map(|i| format!("e2e-{i}")).collect();
        org.inject_fault(FaultSpec {
            kind: "truncate".into(),
            nth: Some(2),
            path: Some("/composite/sobjects".into()),
            ..FaultSpec::default()
        })
        .expect("fault");
        let result = insert(&client, names).await;
        assert_eq!(result.num_rows(), 450);
        let ok = result.column(2).as_boolean();
        let codes = result.column(4).as_string::<i32>();
        let unknown = (0..450)
            .filter(|&i| codes.is_valid(i) && codes.value(i) == "UNKNOWN_OUTCOME")
            .count();
        assert_eq!(unknown, 200, "the call whose answer was cut: 200 rows");
        assert_eq!(ok.true_count(), 250);
        assert_eq!(
            org.count("Account", false).expect("count"),
            450,
            "applied once each, none twice"
        );
    });
}

#[test]
fn a_login_the_org_refuses_is_an_authentication_error() {
    let org = org(0);
    runtime().block_on(async {
        let login = Login::ClientCredentials {
            environment: Environment::parse(&org.identity.url).expect("a URL"),
            client_id: org.identity.client_id.clone(),
            client_secret: Secret::new("not the secret"),
        };
        let e = connect(login, Options::default(), Hooks::default())
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(e, sfarrow_client::Error::Authentication { .. }),
            "{e}"
        );
        assert!(!e.to_string().contains("not the secret"));
    });
}
