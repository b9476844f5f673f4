//! A client of one BuildKit's Control API (`moby.buildkit.v1.Control`): `DiskUsage`,
//! `Prune`, `ListWorkers` and `Info`, over whichever transport its address needs. Every
//! call has a time limit and every answer a size limit; every failure is a
//! `SourceError` that says what failed and what to do.

use std::error::Error as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1 as pb;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::address::Address;
use super::errors::{find_cause, innermost};
use super::transport::{self, Trace};
use super::types::{Record, Version, Worker};
use super::{prune, tls};
use crate::sources::{ErrorKind, SourceError};
use crate::units::binary_size;

/// How long calls may take and how large answers may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Reaching the BuildKit: dialing (an exec, a TLS handshake) and HTTP/2's handshake.
    pub connect: Duration,
    /// `DiskUsage`, and a prune's whole stream: both walk every record.
    pub list: Duration,
    /// `ListWorkers` and `Info`.
    pub small_call: Duration,
    /// A `DiskUsage` answer.
    pub max_disk_usage_bytes: usize,
    /// `ListWorkers`, `Info`, and each record a prune streams back.
    pub max_small_answer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(20),
            list: Duration::from_secs(120),
            small_call: Duration::from_secs(30),
            // About 300 bytes a record, so this fits about 800,000 (the Engine's
            // `/system/df` has the same cap).
            max_disk_usage_bytes: 256 << 20,
            max_small_answer_bytes: 8 << 20,
        }
    }
}

/// One BuildKit, connected.
#[derive(Clone)]
pub struct Client {
    address: Address,
    limits: Limits,
    control: ControlClient<Channel>,
    trace: Arc<Trace>,
}

impl Client {
    /// Dials the BuildKit at `address` and opens an HTTP/2 connection to it.
    pub async fn connect(address: Address) -> Result<Client, SourceError> {
        Client::connect_with(address, Limits::default()).await
    }

    pub async fn connect_with(address: Address, limits: Limits) -> Result<Client, SourceError> {
        let trace = Arc::new(Trace::default());
        let connector = {
            let (address, trace) = (address.clone(), trace.clone());
            tower::service_fn(move |_: http::Uri| {
                let (address, trace) = (address.clone(), trace.clone());
                async move {
                    transport::dial(&address, &trace, limits.connect)
                        .await
                        .map(TokioIo::new)
                }
            })
        };
        // The authority is a placeholder: every transport is already bound to its peer.
        let endpoint = Endpoint::from_static("http://buildkit");
        let channel =
            tokio::time::timeout(limits.connect, endpoint.connect_with_connector(connector)).await;
        let err = match channel {
            Ok(Ok(channel)) => {
                return Ok(Client {
                    address,
                    limits,
                    control: ControlClient::new(channel),
                    trace,
                });
            }
            Ok(Err(e)) => transport_failure(&address, &trace, "the HTTP/2 handshake", &e),
            Err(_) => SourceError::new(
                ErrorKind::Unreachable,
                format!(
                    "{address} did not complete the HTTP/2 handshake within {}s",
                    limits.connect.as_secs_f64()
                ),
            ),
        };
        Err(transport::explain(&address, &trace, err).await)
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Every cache record (`DiskUsage` with no filter).
    pub async fn disk_usage(&self) -> Result<Vec<Record>, SourceError> {
        let cap = self.limits.max_disk_usage_bytes;
        let mut control = self.control.clone().max_decoding_message_size(cap);
        let call = control.disk_usage(pb::DiskUsageRequest::default());
        let answer = self.call("DiskUsage", self.limits.list, cap, call).await?;
        Ok(answer.record.into_iter().map(Record::from).collect())
    }

    /// The workers, with their platforms, snapshotter and GC policy.
    pub async fn workers(&self) -> Result<Vec<Worker>, SourceError> {
        let cap = self.limits.max_small_answer_bytes;
        let mut control = self.control.clone().max_decoding_message_size(cap);
        let call = control.list_workers(pb::ListWorkersRequest::default());
        let answer = self
            .call("ListWorkers", self.limits.small_call, cap, call)
            .await?;
        Ok(answer.record.into_iter().map(Worker::from).collect())
    }

    /// The BuildKit's version. Older BuildKits (dockerd 20.10's) do not implement `Info`:
    /// that is `Ok(None)`, not an error.
    pub async fn version(&self) -> Result<Option<Version>, SourceError> {
        let cap = self.limits.max_small_answer_bytes;
        let mut control = self.control.clone().max_decoding_message_size(cap);
        let call = control.info(pb::InfoRequest {});
        match self.timed("Info", self.limits.small_call, call).await? {
            Ok(info) => Ok(info.into_inner().buildkit_version.map(Version::from)),
            Err(status) if status.code() == Code::Unimplemented => Ok(None),
            Err(status) => Err(self.explain("Info", &status, cap).await),
        }
    }

    /// Prunes exactly the record `id` (the filter `id==<id>`, never a pattern, never
    /// `all`) and returns the records BuildKit says it deleted, for the caller to check
    /// against its plan. Like `docker buildx prune --filter id=<id>` without `--all`,
    /// BuildKit skips a record that is in use, shared with an image, or internal: then
    /// the answer is empty. Deleted records come back with their id and sizes; BuildKit
    /// may leave their type empty.
    pub async fn prune_one(&self, id: &str) -> Result<Vec<Record>, SourceError> {
        let request = prune::request(id)?;
        let cap = self.limits.max_small_answer_bytes;
        let mut control = self.control.clone().max_decoding_message_size(cap);
        let (address, trace) = (&self.address, &*self.trace);
        let run = async {
            let mut stream = control
                .prune(request)
                .await
                .map_err(|s| status_error(address, trace, "Prune", &s, cap))?
                .into_inner();
            let mut deleted = Vec::new();
            loop {
                match stream.message().await {
                    Ok(Some(r)) => {
                        if deleted.len() >= prune::MAX_DELETED_RECORDS {
                            return Err(prune::too_many(address, id));
                        }
                        deleted.push(Record::from(r));
                    }
                    Ok(None) => return Ok(deleted),
                    Err(s) => {
                        let err = status_error(address, trace, "Prune", &s, cap);
                        return Err(prune::cut_short(err, id, &deleted));
                    }
                }
            }
        };
        let answer = match tokio::time::timeout(self.limits.list, run).await {
            Ok(r) => r,
            Err(_) => Err(SourceError::new(
                ErrorKind::NoAnswer,
                format!(
                    "{address} did not finish the prune of {id} within {}s; it may or may not \
                     have deleted it: list the builder again to see",
                    self.limits.list.as_secs_f64()
                ),
            )),
        };
        match answer {
            Ok(deleted) => Ok(deleted),
            Err(e) => Err(transport::explain(address, &self.trace, e).await),
        }
    }

    /// One unary call within `timeout`, its failure explained.
    async fn call<T>(
        &self,
        method: &str,
        timeout: Duration,
        cap: usize,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, SourceError> {
        match self.timed(method, timeout, call).await? {
            Ok(answer) => Ok(answer.into_inner()),
            Err(status) => Err(self.explain(method, &status, cap).await),
        }
    }

    /// A call within `timeout`: its gRPC outcome, or the error of having waited too long.
    async fn timed<T>(
        &self,
        method: &str,
        timeout: Duration,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<Result<T, Status>, SourceError> {
        match tokio::time::timeout(timeout, call).await {
            Ok(outcome) => Ok(outcome),
            Err(_) => {
                let err = SourceError::new(
                    ErrorKind::NoAnswer,
                    format!(
                        "{} did not answer {method} within {}s",
                        self.address,
                        timeout.as_secs_f64()
                    ),
                );
                Err(transport::explain(&self.address, &self.trace, err).await)
            }
        }
    }

    async fn explain(&self, method: &str, status: &Status, cap: usize) -> SourceError {
        let err = status_error(&self.address, &self.trace, method, status, cap);
        transport::explain(&self.address, &self.trace, err).await
    }
}

/// A gRPC failure in terms of what the user can do about it.
fn status_error(
    address: &Address,
    trace: &Trace,
    method: &str,
    status: &Status,
    cap: usize,
) -> SourceError {
    let said = status.message();
    match status.code() {
        Code::OutOfRange if said.contains("too large") => SourceError::new(
            ErrorKind::Malformed,
            format!(
                "{address} sent an answer to {method} larger than {}, which cachetop does not \
                 read ({said})",
                binary_size(cap as u64)
            ),
        ),
        Code::Unimplemented => SourceError::new(
            ErrorKind::Unsupported,
            format!(
                "{address} does not implement {method}{}; is it a BuildKit?",
                if said.is_empty() {
                    String::new()
                } else {
                    format!(" ({said})")
                }
            ),
        ),
        Code::PermissionDenied => SourceError::new(
            ErrorKind::PermissionDenied,
            format!("{address} refused {method}: {said}"),
        ),
        Code::Unauthenticated => SourceError::new(
            ErrorKind::Auth,
            format!("{address} wants credentials for {method}: {said}"),
        ),
        Code::InvalidArgument | Code::FailedPrecondition => SourceError::new(
            ErrorKind::Refused,
            format!("{address} refused {method}: {said}"),
        ),
        Code::DeadlineExceeded => SourceError::new(
            ErrorKind::NoAnswer,
            format!("{address} did not answer {method} in time: {said}"),
        ),
        // The connection failed under the call (its cause is kept as the source).
        _ if status.source().is_some() => transport_failure(address, trace, method, status),
        // A message that did not decode as protobuf, or a broken gRPC frame.
        Code::Internal => SourceError::new(
            ErrorKind::Malformed,
            format!("{address} sent an answer to {method} that cachetop cannot read: {said}"),
        ),
        code => SourceError::new(
            ErrorKind::Other,
            format!("{address} failed {method} ({code:?}): {said}"),
        ),
    }
}

/// The connection failed, while connecting or under a call (`what`).
fn transport_failure(
    address: &Address,
    trace: &Trace,
    what: &str,
    err: &(dyn std::error::Error + 'static),
) -> SourceError {
    // A dial (or a reconnect) that failed carries its own error.
    if let Some(dial) = find_cause::<SourceError>(err) {
        return dial.clone();
    }
    let tls = match address {
        Address::Tcp { tls: Some(f), .. } => Some(f),
        _ => None,
    };
    if let Some(files) = tls
        && let Some(e) = tls::explain(err, files, &format!("the BuildKit at {}", address.uri()))
    {
        return e;
    }
    let cause = innermost(err);
    if let Some(h2) = find_cause::<h2::Error>(err)
        && (h2.is_go_away() || h2.is_reset() || h2.reason().is_some())
        && !h2.is_io()
    {
        return SourceError::new(
            ErrorKind::Unsupported,
            format!(
                "{address} does not speak BuildKit's gRPC API (HTTP/2 failed during {what}: \
                 {cause}); is this a BuildKit address?"
            ),
        );
    }
    // A TLS 1.3 server that wants a client certificate says so in an alert that can be
    // lost when it closes the connection right after.
    if let Some(files) = tls
        && files.cert.is_none()
    {
        return SourceError::new(
            ErrorKind::NoAnswer,
            format!(
                "{address} closed the connection during {what}: {cause}; if the server \
                 requires a client certificate, give one (--tlscert and --tlskey)"
            ),
        );
    }
    // An HTTP/2 server speaks first (its settings); a peer that closed without a word is
    // something else, e.g. an HTTP/1 server that gave up on the HTTP/2 preface. An exec
    // is explained by what it said instead.
    if transport::peer_said_nothing(trace) && !matches!(address, Address::DockerContainer { .. }) {
        return transport::not_buildkit(
            address,
            &format!(
                "it closed the connection without sending HTTP/2 settings first ({what}: {cause})"
            ),
        );
    }
    SourceError::new(
        ErrorKind::NoAnswer,
        format!("{address} closed the connection during {what}: {cause}"),
    )
}
