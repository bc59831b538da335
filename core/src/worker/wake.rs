//! Listens on a shard's wake channel: "t" wakes the timer (a topic's earliest due time moved
//! earlier), "r" the notifier (a topic got ready messages). After a reconnect both are woken,
//! since news may have been missed while the connection was down.

use std::sync::Arc;

use super::{Shared, Wake};
use crate::queue::wake;

pub(super) async fn listen(shared: Arc<Shared>, shard: usize, wake: Arc<Wake>) {
    let mut listener = Workers(wake);
    wake::listen(&shared.queue, shard, shared.stop.clone(), &mut listener).await;
}

struct Workers(Arc<Wake>);

impl wake::Listener for Workers {
    const WHAT: &'static str = "workers";

    async fn subscribed(&mut self) {
        self.0.timer.notify_one();
        self.0.notifier.notify_one();
    }

    fn message(&mut self, payload: &[u8]) {
        match payload {
            b"t" => self.0.timer.notify_one(),
            b"r" => self.0.notifier.notify_one(),
            _ => {}
        }
    }
}
