//! Concurrent first uses of one key, as servers sharing a replay store race on it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jwt_layer::store::{RedisStore, ReplayStore};

/// How many of `uses` concurrent first uses of `key`, spread over `stores` and released at
/// once, were told they were the first.
pub async fn firsts_among_concurrent_uses(
    stores: &[Arc<RedisStore>],
    key: &str,
    uses: usize,
) -> usize {
    let expires = SystemTime::now() + Duration::from_secs(60);
    let barrier = Arc::new(tokio::sync::Barrier::new(uses));
    let tasks: Vec<_> = (0..uses)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let (key, barrier) = (key.to_owned(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store.first_use(&key, expires).await
            })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap().expect("the store answers") {
            firsts += 1;
        }
    }
    firsts
}
