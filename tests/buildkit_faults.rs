//! BuildKit's gRPC API when things go wrong: a builder container without `buildctl`, a
//! stopped builder, a builder stopped in the middle of an answer, sockets that are not
//! BuildKit (the registry, a plain HTTP server, the Docker API itself, a silent peer),
//! garbage and oversized gRPC answers. Each is a `SourceError` that says what failed,
//! within a bound, never a hang or a panic.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cachetop::sources::buildkit::{Address, Client, Limits};
use cachetop::sources::{ErrorKind, SourceError};
use common::buildkit::*;
use common::registry::registries;
use common::*;
use tokio::net::UnixListener;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Short limits, so that a test proves the bound without waiting minutes.
fn short() -> Limits {
    Limits {
        connect: Duration::from_secs(5),
        list: Duration::from_secs(5),
        small_call: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// Connects and lists; the error, which must come within `bound`.
async fn list_error(address: Address, limits: Limits, bound: Duration) -> SourceError {
    let started = Instant::now();
    let r = match Client::connect_with(address, limits).await {
        Ok(c) => c.disk_usage().await.map(|r| r.len()),
        Err(e) => Err(e),
    };
    let took = started.elapsed();
    assert!(took < bound, "took {took:?}");
    match r {
        Ok(n) => panic!("listed {n} records"),
        Err(e) => {
            eprintln!("{:?}: {}", e.kind, e.message);
            e
        }
    }
}

fn container(name: &str) -> Address {
    Address::parse(&format!("docker-container://{name}"), &daemon().host, None).unwrap()
}

fn bk_socket_mount() -> String {
    format!(
        "{}:/run/buildkit-relay/docker.sock",
        buildkit_parts().docker_socket.display()
    )
}

#[test]
fn a_container_without_buildctl_is_named_and_said() {
    let c = Container::start(&unique("buildx_buildkit_nobuildctl"), BASE_IMAGE, &[]);
    let e = rt().block_on(list_error(
        container(&c.name),
        Limits::default(),
        Duration::from_secs(60),
    ));
    assert_eq!(e.kind, ErrorKind::Unsupported, "{}", e.message);
    assert!(
        e.message
            .contains(&format!("container {} has no buildctl", c.name)),
        "{}",
        e.message
    );
}

#[test]
fn a_stopped_builder_is_reported_and_left_stopped() {
    let parts = buildkit_parts();
    let mount = bk_socket_mount();
    let c = Container::start(
        &unique("buildx_buildkit_stopped"),
        &parts.image,
        &["-v", &mount],
    );
    c.kill();
    let e = rt().block_on(list_error(
        container(&c.name),
        Limits::default(),
        Duration::from_secs(60),
    ));
    assert_eq!(e.kind, ErrorKind::Unreachable, "{}", e.message);
    assert!(e.message.contains("is not running"), "{}", e.message);
    assert!(
        e.message.contains(&format!("docker start {}", c.name)),
        "{}",
        e.message
    );
    let state = docker_on(
        &daemon().host,
        &["inspect", "-f", "{{.State.Running}}", &c.name],
    );
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "false");
}

#[test]
fn a_missing_container_is_not_found() {
    let e = rt().block_on(list_error(
        container("buildx_buildkit_nosuchbuilder0"),
        Limits::default(),
        Duration::from_secs(30),
    ));
    assert_eq!(e.kind, ErrorKind::NotFound, "{}", e.message);
    assert!(
        e.message.contains("buildx_buildkit_nosuchbuilder0"),
        "{}",
        e.message
    );
}

#[test]
fn a_builder_stopped_in_the_middle_of_an_answer_fails_cleanly() {
    let parts = buildkit_parts();
    // Enough records that the throttled answer (512 bytes every 100 ms) takes seconds.
    let have = df_records_at(&parts.docker_socket).len();
    if have < 60 {
        build_cache_mounts_on(&parts.docker_host, &unique("slow"), 40);
    }
    let mount = bk_socket_mount();
    let c = Container::start(
        &unique("buildx_buildkit_slow"),
        &parts.image,
        &["-v", &mount, "-e", "RELAY_THROTTLE_MS=100"],
    );
    let address = container(&c.name);
    let e = rt().block_on(async {
        let client = Client::connect(address).await.unwrap();
        let listing = tokio::spawn(async move {
            let started = Instant::now();
            let r = client.disk_usage().await;
            (r, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !listing.is_finished(),
            "the answer came before the builder stopped"
        );
        let name = c.name.clone();
        tokio::task::spawn_blocking(move || {
            let out = docker_on(&daemon().host, &["kill", &name]);
            assert!(out.status.success());
        })
        .await
        .unwrap();
        let (r, took) = listing.await.unwrap();
        assert!(took < Duration::from_secs(60), "took {took:?}");
        r.unwrap_err()
    });
    eprintln!("{:?}: {}", e.kind, e.message);
    assert!(
        matches!(e.kind, ErrorKind::NoAnswer | ErrorKind::Unreachable),
        "{:?}: {}",
        e.kind,
        e.message
    );
    assert!(e.message.contains(&c.name), "{}", e.message);
}

#[test]
fn the_registry_is_not_buildkit() {
    let addr = format!("tcp://{}", registries().delete);
    let e = rt().block_on(list_error(
        Address::parse(&addr, &daemon().host, None).unwrap(),
        short(),
        Duration::from_secs(30),
    ));
    assert_eq!(e.kind, ErrorKind::Unsupported, "{}", e.message);
    assert!(
        e.message.contains("does not speak BuildKit's gRPC API"),
        "{}",
        e.message
    );
    assert!(e.message.contains(&addr), "{}", e.message);
}

#[test]
fn the_docker_api_is_not_a_standalone_buildkit() {
    let socket = &daemon().socket;
    let e = rt().block_on(list_error(
        Address::Unix(socket.clone()),
        short(),
        Duration::from_secs(30),
    ));
    assert_eq!(e.kind, ErrorKind::Unsupported, "{}", e.message);
    assert!(
        e.message.contains("is this a BuildKit address?"),
        "{}",
        e.message
    );
}

#[test]
fn a_registry_is_not_a_docker_daemon_with_grpc() {
    let host = format!("tcp://{}", registries().delete);
    let e = rt().block_on(list_error(
        Address::DockerEmbedded {
            docker_host: host.clone(),
        },
        short(),
        Duration::from_secs(30),
    ));
    assert_eq!(e.kind, ErrorKind::NotFound, "{}", e.message);
    assert!(
        e.message.contains(&format!(
            "the Docker daemon at {host} answered /grpc with HTTP 404 instead of switching protocols"
        )),
        "{}",
        e.message
    );
}

/// A unix socket whose peer does what `serve` does with each connection.
async fn socket_server<F, Fut>(dir: &Path, serve: F) -> Address
where
    F: Fn(tokio::net::UnixStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let path = dir.join("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s));
        }
    });
    Address::Unix(path)
}

#[test]
fn a_plain_http_server_is_not_buildkit() {
    let dir = tempfile::tempdir().unwrap();
    let e = rt().block_on(async {
        let address = socket_server(dir.path(), |mut s| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nBad Request")
                .await;
        })
        .await;
        list_error(address, short(), Duration::from_secs(30)).await
    });
    assert_eq!(e.kind, ErrorKind::Unsupported, "{}", e.message);
    assert!(
        e.message.contains("does not speak BuildKit's gRPC API"),
        "{}",
        e.message
    );
}

#[test]
fn a_silent_peer_is_given_up_on_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let e = rt().block_on(async {
        let address = socket_server(dir.path(), |s| async move {
            // Holds the connection and never says a word.
            tokio::time::sleep(Duration::from_secs(600)).await;
            drop(s);
        })
        .await;
        list_error(address, short(), Duration::from_secs(20)).await
    });
    assert!(
        matches!(e.kind, ErrorKind::NoAnswer | ErrorKind::Unreachable),
        "{:?}: {}",
        e.kind,
        e.message
    );
    assert!(e.message.contains("within 5s"), "{}", e.message);
}

/// An HTTP/2 server answering every gRPC call with `body` and then `grpc-status`.
async fn grpc_server(dir: &Path, body: &'static [u8], grpc_status: &'static str) -> Address {
    socket_server(dir, move |s| async move {
        let Ok(mut conn) = h2::server::handshake(s).await else {
            return;
        };
        while let Some(Ok((_req, mut respond))) = conn.accept().await {
            let resp = http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            let Ok(mut send) = respond.send_response(resp, false) else {
                return;
            };
            let _ = send.send_data(Bytes::from_static(body), false);
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", grpc_status.parse().unwrap());
            let _ = send.send_trailers(trailers);
        }
    })
    .await
}

#[test]
fn a_garbage_grpc_answer_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    // One gRPC message of 10 bytes that are no protobuf.
    const GARBAGE: &[u8] = b"\x00\x00\x00\x00\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    let e = rt().block_on(async {
        let address = grpc_server(dir.path(), GARBAGE, "0").await;
        list_error(address, short(), Duration::from_secs(30)).await
    });
    assert_eq!(e.kind, ErrorKind::Malformed, "{}", e.message);
    assert!(
        e.message
            .contains("answer to DiskUsage that cachetop cannot read"),
        "{}",
        e.message
    );
}

#[test]
fn an_answer_claiming_a_gigabyte_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    const HUGE: &[u8] = b"\x00\x40\x00\x00\x00";
    let e = rt().block_on(async {
        let address = grpc_server(dir.path(), HUGE, "0").await;
        list_error(address, short(), Duration::from_secs(30)).await
    });
    assert_eq!(e.kind, ErrorKind::Malformed, "{}", e.message);
    assert!(e.message.contains("larger than 256 MiB"), "{}", e.message);
}

#[test]
fn a_grpc_server_without_the_control_api_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let e = rt().block_on(async {
        // 12: UNIMPLEMENTED, as any gRPC server answers for a service it lacks.
        let address = grpc_server(dir.path(), b"", "12").await;
        list_error(address, short(), Duration::from_secs(30)).await
    });
    assert_eq!(e.kind, ErrorKind::Unsupported, "{}", e.message);
    assert!(
        e.message.contains("does not implement DiskUsage"),
        "{}",
        e.message
    );
}

#[test]
fn a_real_answer_over_the_cap_is_refused_by_name() {
    let limits = Limits {
        max_disk_usage_bytes: 64,
        ..Limits::default()
    };
    build(&format!(
        "FROM {BASE_IMAGE}\nRUN --mount=type=cache,target=/cache/cap echo cap > /cache/cap/f\n"
    ));
    let e = rt().block_on(list_error(
        Address::DockerEmbedded {
            docker_host: daemon().host.clone(),
        },
        limits,
        Duration::from_secs(60),
    ));
    assert_eq!(e.kind, ErrorKind::Malformed, "{}", e.message);
    assert!(e.message.contains("larger than 64 bytes"), "{}", e.message);
}
