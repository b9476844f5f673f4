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
use crate::sources::docker::engine::binary_size;
use crate::sources::{ErrorKind, SourceError};

/// `DiskUsage` and a prune's stream, which walk every record.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(120);
/// `ListWorkers` and `Info`.
pub const SMALL_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A `DiskUsage` answer: about 300 bytes a record, so this fits about 800,000
/// (the Engine's `/system/df` has the same cap).
pub const MAX_DISK_USAGE_BYTES: usize = 256 << 20;
/// `ListWorkers`, `Info`, and each record a prune streams back.
pub const MAX_SMALL_ANSWER_BYTES: usize = 8 << 20;

/// One BuildKit, connected.
#[derive(Clone)]
pub struct Client {
    address: Address,
    control: ControlClient<Channel>,
    trace: Arc<Trace>,
}

impl Client {
    /// Dials the BuildKit at `address` and opens an HTTP/2 connection to it.
    pub async fn connect(address: Address) -> Result<Client, SourceError> {
        let trace = Arc::new(Trace::default());
        let connector = {
            let (address, trace) = (address.clone(), trace.clone());
            tower::service_fn(move |_: http::Uri| {
                let (address, trace) = (address.clone(), trace.clone());
                async move { transport::dial(&address, &trace).await.map(TokioIo::new) }
            })
        };
        // The authority is a placeholder: every transport is already bound to its peer.
        let channel = Endpoint::from_static("http://buildkit")
            .connect_with_connector(connector)
            .await;
        let channel = match channel {
            Ok(c) => c,
            Err(e) => {
                let err = transport_failure(&address, "the HTTP/2 handshake", &e);
                return Err(transport::explain_exec(&address, &trace, err).await);
            }
        };
        Ok(Client {
            address,
            control: ControlClient::new(channel),
            trace,
        })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Every cache record (`DiskUsage` with no filter).
    pub async fn disk_usage(&self) -> Result<Vec<Record>, SourceError> {
        let mut control = self
            .control
            .clone()
            .max_decoding_message_size(MAX_DISK_USAGE_BYTES);
        let answer = self
            .call(
                "DiskUsage",
                LIST_TIMEOUT,
                MAX_DISK_USAGE_BYTES,
                control.disk_usage(pb::DiskUsageRequest::default()),
            )
            .await?;
        Ok(answer.record.into_iter().map(Record::from).collect())
    }

    /// The workers, with their platforms, snapshotter and GC policy.
    pub async fn workers(&self) -> Result<Vec<Worker>, SourceError> {
        let mut control = self
            .control
            .clone()
            .max_decoding_message_size(MAX_SMALL_ANSWER_BYTES);
        let answer = self
            .call(
                "ListWorkers",
                SMALL_CALL_TIMEOUT,
                MAX_SMALL_ANSWER_BYTES,
                control.list_workers(pb::ListWorkersRequest::default()),
            )
            .await?;
        Ok(answer.record.into_iter().map(Worker::from).collect())
    }

    /// The BuildKit's version. Older BuildKits (dockerd 20.10's) do not implement `Info`:
    /// that is `Ok(None)`, not an error.
    pub async fn version(&self) -> Result<Option<Version>, SourceError> {
        let mut control = self
            .control
            .clone()
            .max_decoding_message_size(MAX_SMALL_ANSWER_BYTES);
        let call = control.info(pb::InfoRequest {});
        match self.timed("Info", SMALL_CALL_TIMEOUT, call).await? {
            Ok(info) => Ok(info.into_inner().buildkit_version.map(Version::from)),
            Err(status) if status.code() == Code::Unimplemented => Ok(None),
            Err(status) => Err(self.explain("Info", &status, MAX_SMALL_ANSWER_BYTES).await),
        }
    }

    /// Prunes exactly the record `id` (the filter `id==<id>`, never a pattern, never
    /// `all`) and returns the records BuildKit says it deleted, for the caller to check
    /// against its plan. Like `docker buildx prune --filter id=<id>` without `--all`,
    /// BuildKit skips a record that is in use, shared with an image, or internal: then
    /// the answer is empty.
    pub async fn prune_one(&self, id: &str) -> Result<Vec<Record>, SourceError> {
        let request = prune::request(id)?;
        let mut control = self
            .control
            .clone()
            .max_decoding_message_size(MAX_SMALL_ANSWER_BYTES);
        let address = &self.address;
        let run = async {
            let mut stream = control
                .prune(request)
                .await
                .map_err(|s| status_error(address, "Prune", &s, MAX_SMALL_ANSWER_BYTES))?
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
                        return Err(prune::cut_short(
                            status_error(address, "Prune", &s, MAX_SMALL_ANSWER_BYTES),
                            id,
                            &deleted,
                        ));
                    }
                }
            }
        };
        let answer = match tokio::time::timeout(LIST_TIMEOUT, run).await {
            Ok(r) => r,
            Err(_) => Err(SourceError::new(
                ErrorKind::NoAnswer,
                format!(
                    "{address} did not finish the prune of {id} within {}s; it may or may not \
                     have deleted it: list the builder again to see",
                    LIST_TIMEOUT.as_secs()
                ),
            )),
        };
        match answer {
            Ok(deleted) => Ok(deleted),
            Err(e) => Err(transport::explain_exec(address, &self.trace, e).await),
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
                        timeout.as_secs()
                    ),
                );
                Err(transport::explain_exec(&self.address, &self.trace, err).await)
            }
        }
    }

    async fn explain(&self, method: &str, status: &Status, cap: usize) -> SourceError {
        let err = status_error(&self.address, method, status, cap);
        transport::explain_exec(&self.address, &self.trace, err).await
    }
}

/// A gRPC failure in terms of what the user can do about it.
pub(crate) fn status_error(
    address: &Address,
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
            format!("{address} does not implement {method} ({said}); is it a BuildKit?"),
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
        _ if status.source().is_some() => transport_failure(address, method, status),
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
        && let Some(e) = tls::explain(err, files, &address.uri())
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
    let hint = match tls {
        Some(files) if files.cert.is_none() => {
            "; if the server requires a client certificate, give one (--tlscert and --tlskey)"
        }
        _ => "",
    };
    SourceError::new(
        ErrorKind::NoAnswer,
        format!("{address} closed the connection during {what}: {cause}{hint}"),
    )
}
