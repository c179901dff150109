//! Work on many items with a bound on how many are in flight at once: users within an
//! account, accounts within an Organization. Results come back in input order. Only the
//! items in flight exist as tasks, so memory stays flat however many items there are.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinSet;

/// Run `work` on every item, at most `limit` at once; every item is done.
pub async fn map<I, T, F, Fut>(items: Vec<I>, limit: usize, work: F) -> Vec<T>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut running = Running::start(items, limit, work);
    let mut results = Vec::with_capacity(running.total);
    while let Some(done) = running.next().await {
        results.push(done);
    }
    in_input_order(results)
}

/// Like `map`, over items that arrive on a channel (pages of a listing): the first
/// items are worked on while later ones are still being fetched. An `Err` from the
/// channel, or from `work`, stops everything: the tasks in flight are aborted and the
/// rest never start. Results come in arrival order.
pub(crate) async fn try_map_received<I, T, E, F, Fut>(
    mut items: tokio::sync::mpsc::Receiver<Result<I, E>>,
    limit: usize,
    work: F,
) -> Result<Vec<T>, E>
where
    I: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let work = Arc::new(work);
    let mut in_flight = JoinSet::new();
    let mut results = Vec::new();
    let (mut arrived, mut open) = (0usize, true);
    loop {
        tokio::select! {
            item = items.recv(), if open && in_flight.len() < limit.max(1) => match item {
                Some(Ok(item)) => {
                    let work = Arc::clone(&work);
                    let index = arrived;
                    in_flight.spawn(async move { (index, work(item).await) });
                    arrived += 1;
                }
                // Returning drops the tasks in flight (aborted) and the channel.
                Some(Err(err)) => return Err(err),
                None => open = false,
            },
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                let (index, result) = joined.expect("bounded tasks do not panic");
                results.push((index, result?));
            }
            else => break,
        }
    }
    Ok(in_input_order(results))
}

fn in_input_order<T>(mut results: Vec<(usize, T)>) -> Vec<T> {
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// The items not yet started, and a task for each item in flight.
struct Running<I, T, F> {
    waiting: std::iter::Enumerate<std::vec::IntoIter<I>>,
    in_flight: JoinSet<(usize, T)>,
    work: Arc<F>,
    total: usize,
}

impl<I, T, F, Fut> Running<I, T, F>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    fn start(items: Vec<I>, limit: usize, work: F) -> Self {
        let total = items.len();
        let mut running = Running {
            waiting: items.into_iter().enumerate(),
            in_flight: JoinSet::new(),
            work: Arc::new(work),
            total,
        };
        for _ in 0..limit.max(1) {
            if !running.start_next() {
                break;
            }
        }
        running
    }

    /// Start the next waiting item; false when none is left.
    fn start_next(&mut self) -> bool {
        let Some((index, item)) = self.waiting.next() else {
            return false;
        };
        let work = Arc::clone(&self.work);
        self.in_flight
            .spawn(async move { (index, work(item).await) });
        true
    }

    /// The next item to finish, with its input index; a waiting item takes its place.
    async fn next(&mut self) -> Option<(usize, T)> {
        let joined = self.in_flight.join_next().await?;
        self.start_next();
        Some(joined.expect("bounded tasks do not panic"))
    }
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_items_in_flight_exist_as_tasks() {
        let most_tasks = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&most_tasks);
        let results = map((0..1000).collect(), 4, move |n: u32| {
            let seen = Arc::clone(&seen);
            async move {
                let alive = tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks();
                seen.fetch_max(alive, Ordering::SeqCst);
                tokio::task::yield_now().await;
                n
            }
        })
        .await;
        assert_eq!(results.len(), 1000);
        // Spawning every item at once (waiting on a semaphore) would show ~1000 here. A
        // finished task counts as alive until the runtime lets go of it, hence 2 x limit.
        assert!(
            most_tasks.load(Ordering::SeqCst) <= 8,
            "{} tasks alive at once",
            most_tasks.load(Ordering::SeqCst)
        );
    }

    /// The first item is worked on before the second arrives: the sender holds the
    /// second back until the first has been started, as ListUsers' second page would
    /// still be in flight while the first page's users are examined.
    #[tokio::test]
    async fn received_items_are_worked_on_as_they_arrive() {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
        let producer = tokio::spawn(async move {
            sender.send(Ok::<u32, String>(1)).await.unwrap();
            // Only once item 1 is being worked on does item 2 come.
            started_rx
                .await
                .expect("item 1 was started before item 2 was sent");
            sender.send(Ok(2)).await.unwrap();
        });
        let results = try_map_received(receiver, 4, move |n: u32| {
            let started_tx = Arc::clone(&started_tx);
            async move {
                if let Some(tx) = started_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                Ok(n * 10)
            }
        })
        .await;
        producer.await.unwrap();
        assert_eq!(results, Ok(vec![10, 20]));
    }

    #[tokio::test]
    async fn an_error_on_the_channel_stops_the_work() {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        sender.send(Ok(1)).await.unwrap();
        sender.send(Err("page 2 failed".to_string())).await.unwrap();
        drop(sender);
        let result = try_map_received(receiver, 2, |n: u32| async move { Ok(n) }).await;
        assert_eq!(result, Err("page 2 failed".to_string()));
    }

    #[tokio::test]
    async fn the_first_error_from_the_work_is_returned() {
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        for n in 0..10 {
            sender.send(Ok(n)).await.unwrap();
        }
        drop(sender);
        let result: Result<Vec<u32>, String> = try_map_received(receiver, 2, |n: u32| async move {
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
