//! Budget (issue 11): listing a BuildKit with 1,000 records over gRPC (`DiskUsage`
//! through the daemon's `POST /grpc`) takes at most 1.2x what `/system/df` of the same
//! BuildKit takes (cachetop's Engine client, records parsed into entries).
//! Both are measured in process, on an open connection (the listing itself) and from a
//! fresh one (connect, then list), on an isolated daemon of its own
//! ($CACHETOP_TEST_DAEMON_DIR-bench-bk, started by scripts/test-daemon.sh and filled
//! with real builds the first time), never the default one.
//!
//!     cargo bench --bench buildkit_list

mod support;

use std::time::{Duration, Instant};

use cachetop::model::{SourceKind, SourceRef};
use cachetop::sources::buildkit::{Address, Client};
use cachetop::sources::docker::engine::Engine;
use support::{fill, median, ms, start_test_daemon, test_daemon_base};

const RUNS: usize = 21;
const WANT_RECORDS: usize = 1000;
const BUDGET: f64 = 1.2;

fn main() {
    let host = start_test_daemon(&format!("{}-bench-bk", test_daemon_base()));
    assert!(host.ends_with("-bench-bk/docker.sock"), "{host}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sref = SourceRef::new(SourceKind::Docker, host.clone());
    let address = Address::DockerEmbedded {
        docker_host: host.clone(),
    };

    let mut round = 0;
    loop {
        let n = rt.block_on(async {
            Engine::connect(&host)
                .await
                .unwrap()
                .disk_usage(&sref)
                .await
                .unwrap()
                .records
                .len()
        });
        if n >= WANT_RECORDS {
            break;
        }
        eprintln!("{n} records; building more");
        // About 200 records a round.
        fill(&host, "bench", &round.to_string(), 100);
        round += 1;
    }

    let (grpc_warm, df_warm, grpc_cold, df_cold, records) = rt.block_on(async {
        let client = Client::connect(address.clone()).await.unwrap();
        let engine = Engine::connect(&host).await.unwrap();
        let records = client.disk_usage().await.unwrap().len();
        let entries = engine.disk_usage(&sref).await.unwrap().records.len();
        assert_eq!(records, entries, "both list the same BuildKit");
        let (mut gw, mut dw, mut gc, mut dc) = (vec![], vec![], vec![], vec![]);
        for _ in 0..RUNS {
            gw.push(time(|| async { client.disk_usage().await.unwrap().len() }).await);
            dw.push(time(|| async { engine.disk_usage(&sref).await.unwrap().records.len() }).await);
            gc.push(
                time(|| async {
                    let c = Client::connect(address.clone()).await.unwrap();
                    c.disk_usage().await.unwrap().len()
                })
                .await,
            );
            dc.push(
                time(|| async {
                    let e = Engine::connect(&host).await.unwrap();
                    e.disk_usage(&sref).await.unwrap().records.len()
                })
                .await,
            );
        }
        (median(gw), median(dw), median(gc), median(dc), records)
    });

    let warm = grpc_warm.as_secs_f64() / df_warm.as_secs_f64();
    let cold = grpc_cold.as_secs_f64() / df_cold.as_secs_f64();
    println!("records on the BuildKit: {records}");
    println!("open connection, median over {RUNS} runs:");
    println!("  gRPC DiskUsage via /grpc: {:.1} ms", ms(grpc_warm));
    println!("  GET /system/df:           {:.1} ms", ms(df_warm));
    println!("  ratio: {warm:.2} (budget: at most {BUDGET})");
    println!("fresh connection (connect, then list), median over {RUNS} runs:");
    println!("  gRPC DiskUsage via /grpc: {:.1} ms", ms(grpc_cold));
    println!("  GET /system/df:           {:.1} ms", ms(df_cold));
    println!("  ratio: {cold:.2} (budget: at most {BUDGET})");
    if warm > BUDGET || cold > BUDGET {
        std::process::exit(1);
    }
}

async fn time<F, Fut>(f: F) -> Duration
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let start = Instant::now();
    let n = f().await;
    let took = start.elapsed();
    assert!(n >= WANT_RECORDS, "{n} records");
    took
}
