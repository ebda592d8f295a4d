//! Where buyer notices go once recorded: a [`Notifier`] (the app's inbox, WeChat…).
use entity::buyer_notification;

/// Delivers notices to buyers (the app's inbox, WeChat…).
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    async fn deliver(&self, notice: &buyer_notification::Model);
}

/// Writes each notice to the log (ids and kind only).
pub struct LogNotifier;

#[async_trait::async_trait]
impl Notifier for LogNotifier {
    async fn deliver(&self, notice: &buyer_notification::Model) {
        tracing::info!(notice = notice.id, buyer = %notice.buyer_id, payout = notice.payout_id, kind = %notice.kind,
            channels = %notice.channels.0, "buyer notice delivered");
    }
}
