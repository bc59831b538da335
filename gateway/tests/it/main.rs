//! dq-gateway's integration tests, one module per subject, built as one test binary: each test
//! binary links dq-core and the gateway anew (with LTO), so twelve of them cost `make test`
//! many minutes of linking for nothing.

mod support;

mod alerts;
mod crash;
mod exchanges;
mod http;
mod jobs;
mod observability;
mod openapi;
mod operations;
mod outbox;
mod process;
mod schemathesis;
mod server;
mod subscriptions;
mod ui;
mod workers;
mod xa;
