//! dq-core's integration tests against the real servers, one module per subject, built as one
//! test binary (each binary links the crate anew, with LTO: minutes of `make test`).

mod alert;
mod amqp;
mod blocking;
mod cluster;
mod outbox;
mod queue;
mod registry;
mod subscription;
mod xa;
