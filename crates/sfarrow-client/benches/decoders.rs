//! Micro-benchmarks of the decoders on recorded pages: a REST query page and a Bulk CSV page of
//! 31 Account columns, recorded from the emulator when the benchmark starts (seeded, so the
//! same every run), then decoded again and again with no network in the loop.
//!
//!     cargo bench -p sfarrow-client --features internals --bench decoders

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sfarrow_client::client::connect::{connect, Hooks, Login};
use sfarrow_client::client::{Options, Request, Secret};
use sfarrow_client::internals;
use sfarrow_client::read::{plan::plan, DescribeCache};
use sfarrow_emulator::{Config, Org};
use std::hint::black_box;

const FIELDS: &str = "Id, Name, Ext_Id__c, Type, ParentId, BillingStreet, BillingCity, BillingState, \
BillingPostalCode, BillingCountry, BillingLatitude, BillingLongitude, Phone, Website, Industry, \
AnnualRevenue, NumberOfEmployees, Description, Rating, CustomerPriority__c, Regions__c, Segment__c, \
Discount__c, Health_Score__c, Is_Partner__c, Total_Units__c, SLA_Expiration__c, \
Last_Contacted_At__c, Preferred_Call_Time__c, CreatedDate, SystemModstamp";

struct Recorded {
    plan: sfarrow_client::read::plan::ReadPlan,
    rest: Vec<u8>,
    csv: Vec<u8>,
}

fn record() -> Recorded {
    let org = Org::start(Config {
        https_port: None,
        ..Config::default()
    })
    .expect("the emulator starts");
    org.seed("Account", 10_000).expect("seeded");
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let login = Login::Session {
            instance_url: org.identity.url.clone(),
            access_token: Secret::new(org.identity.access_token.clone()),
        };
        let options = Options {
            gzip: false,
            ..Options::default()
        };
        let client = connect(login, options, Hooks::default())
            .await
            .expect("connects");
        let soql = format!("SELECT {FIELDS} FROM Account");
        let plan = plan(&client, &DescribeCache::default(), &soql)
            .await
            .expect("a plan");
        let query = format!("query?q={}", sfarrow_soql::urlenc::encode(&soql));
        let rest = client
            .send(Request::get(query))
            .await
            .expect("a REST page")
            .body
            .to_vec();
        let job = client
            .json(
                reqwest::Method::POST,
                "jobs/query",
                Some(&serde_json::json!({"operation": "query", "query": soql})),
            )
            .await
            .expect("a job");
        let id = job["id"].as_str().expect("a job id");
        let csv = client
            .send(Request {
                accept: "text/csv",
                ..Request::get(format!("jobs/query/{id}/results?maxRecords=10000"))
            })
            .await
            .expect("a Bulk page")
            .body
            .to_vec();
        Recorded { plan, rest, csv }
    })
}

fn decoders(c: &mut Criterion) {
    let r = record();
    let mut g = c.benchmark_group("rest");
    g.throughput(Throughput::Bytes(r.rest.len() as u64));
    g.bench_function("json_scan", |b| {
        b.iter(|| internals::scan_json(black_box(&r.rest)).expect("scans"))
    });
    g.bench_function("decode_page", |b| {
        b.iter(|| internals::decode_rest_page(&r.plan, black_box(&r.rest)).expect("decodes"))
    });
    g.finish();
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Bytes(r.csv.len() as u64));
    g.bench_function("csv_cells", |b| {
        b.iter(|| internals::split_cells(black_box(&r.csv)).expect("splits"))
    });
    g.bench_function("decode_page", |b| {
        b.iter(|| internals::decode_bulk_page(&r.plan, black_box(&r.csv)).expect("decodes"))
    });
    g.finish();
}

criterion_group!(benches, decoders);
criterion_main!(benches);
