//! The process's fan-out point: a bounded broadcast channel of events.
use std::sync::Arc;

use entity::payout_transition;
use tokio::sync::broadcast;

pub type Event = Arc<payout_transition::Model>;

/// The process's fan-out point.
pub struct Bus {
    sender: broadcast::Sender<Event>,
}

impl Bus {
    /// A bus whose subscribers may fall `buffer` events behind (`SMALLPAY_SUBSCRIBER_BUFFER`).
    pub fn new(buffer: usize) -> Self {
        Bus { sender: broadcast::channel(buffer.max(1)).0 }
    }

    /// Sends `event` to every current subscriber (none is fine).
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
