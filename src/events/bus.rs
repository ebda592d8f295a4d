//! The process's fan-out point: a bounded broadcast channel of events.
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use entity::payout_transition;
use tokio::sync::broadcast;

pub type Event = Arc<payout_transition::Model>;

/// The process's fan-out point.
pub struct Bus {
    sender: broadcast::Sender<Event>,
    subscribed: AtomicU64,
}

impl Bus {
    /// A bus whose subscribers may fall `buffer` events behind (`SMALLPAY_SUBSCRIBER_BUFFER`).
    pub fn new(buffer: usize) -> Self {
        Bus { sender: broadcast::channel(buffer.max(1)).0, subscribed: AtomicU64::new(0) }
    }

    /// Sends `event` to every current subscriber (none is fine).
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.subscribed.fetch_add(1, Ordering::Relaxed);
        self.sender.subscribe()
    }

    /// How many subscriptions were ever registered (tests wait on it before mutating).
    pub fn subscribed(&self) -> u64 {
        self.subscribed.load(Ordering::Relaxed)
    }
}
