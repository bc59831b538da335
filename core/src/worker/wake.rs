//! Listens on a shard's wake channel: "t" wakes the timer (a topic's earliest due time moved
//! earlier), "r" the notifier (a topic got ready messages). After a reconnect both are woken,
//! since news may have been missed while the connection was down.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::{Shared, Trouble, Wake, pause};

pub(super) async fn listen(shared: Arc<Shared>, shard: usize, wake: Arc<Wake>) {
    let queue = &shared.queue;
    let name = queue.shards()[shard].server().display.clone();
    let channel = queue.keys().wake();
    let mut trouble = Trouble::new("wake channel");
    let mut stop = shared.stop.clone();
    while !shared.stopping() {
        let mut pubsub = match queue.shards()[shard].pubsub().await {
            Ok(pubsub) => pubsub,
            Err(e) => {
                trouble.failed(&name, &e);
                if !pause(&shared, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = pubsub.subscribe(&channel).await {
            trouble.failed(
                &name,
                &crate::Error::new(crate::ErrorKind::Connection, e.to_string()),
            );
            if !pause(&shared, Duration::from_secs(1)).await {
                return;
            }
            continue;
        }
        trouble.ok(&name);
        wake.timer.notify_one();
        wake.notifier.notify_one();
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => match message.get_payload_bytes() {
                        b"t" => wake.timer.notify_one(),
                        b"r" => wake.notifier.notify_one(),
                        _ => {}
                    },
                    None => break,
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        tracing::debug!(shard = %name, "wake channel closed; reconnecting");
    }
}
