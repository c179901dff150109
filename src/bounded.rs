//! Work on many items with a bound on how many are in flight at once: users within an
//! account, accounts within an Organization. Results come back in input order.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Run `work` on every item, at most `limit` at once; every item is done.
pub async fn map<I, T, F, Fut>(items: Vec<I>, limit: usize, work: F) -> Vec<T>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut tasks = spawn(items, limit, work);
    let mut results = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("bounded tasks do not panic"));
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Like `map`, but the first error stops the items not yet finished.
pub async fn try_map<I, T, E, F, Fut>(items: Vec<I>, limit: usize, work: F) -> Result<Vec<T>, E>
where
    I: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let mut tasks = spawn(items, limit, work);
    let mut results = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.expect("bounded tasks do not panic");
        // Returning drops the JoinSet, which aborts the tasks still running.
        results.push((index, result?));
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

fn spawn<I, T, F, Fut>(items: Vec<I>, limit: usize, work: F) -> JoinSet<(usize, T)>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let work = Arc::new(work);
    let mut tasks = JoinSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let (permits, work) = (Arc::clone(&permits), Arc::clone(&work));
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            (index, work(item).await)
        });
    }
    tasks
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn results_keep_input_order_and_the_bound_holds() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (a, b) = (Arc::clone(&in_flight), Arc::clone(&most));
        let doubled = map((0..50).collect(), 3, move |n: u64| {
            let (in_flight, most) = (Arc::clone(&a), Arc::clone(&b));
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                n * 2
            }
        })
        .await;
        assert_eq!(doubled, (0..50).map(|n| n * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
    }

    #[tokio::test]
    async fn the_first_error_is_returned() {
        let result: Result<Vec<u32>, String> = try_map((0..10).collect(), 2, |n: u32| async move {
            if n == 4 {
                Err(format!("item {n}"))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result, Err("item 4".to_string()));
    }
}
