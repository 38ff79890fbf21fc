//! Opportunistic batching: many concurrent callers, one statement or transaction per batch.
//!
//! Callers [`Batcher::submit`] an item and await its result. The batcher runs at most
//! `in_flight` batches at once; while they run, newly submitted items wait, and the next batch
//! takes all of them (up to `max_batch`). Under light load a batch is one item and nothing waits
//! for a timer; under heavy load batches grow, and the round trips and commits (each one a WAL
//! flush) per item shrink. The ingress batches accepted tasks, the workers batch turns.
//!
//! The queue of waiting items is bounded: [`Batcher::submit`] waits for room (backpressure,
//! for the workers, whose intake is bounded anyway), [`Batcher::try_submit`] refuses at once
//! (load shedding, for the ingress, which answers 503 instead of queueing without bound).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

/// Room for waiting items where the caller's own intake is what bounds the queue.
pub const QUEUE_DEFAULT: usize = 4096;

/// The handle callers submit items through. Cloning it is cheap; the batching task ends when
/// every handle is dropped.
pub struct Batcher<T, R> {
    requests: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

/// The batcher's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Batcher {
            requests: self.requests.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the batching task, with room for `queue` waiting items. `execute` gets a batch
    /// and returns one result per item, in order.
    pub fn start<F, Fut>(max_batch: usize, in_flight: usize, queue: usize, execute: F) -> Batcher<T, R>
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (requests, incoming) = mpsc::channel(queue.max(1));
        tokio::spawn(run(incoming, max_batch.max(1), in_flight.max(1), execute));
        Batcher { requests }
    }

    /// Queues `item` (waiting for room) and returns its result: `None` if the batching task is
    /// gone (the runtime is shutting down) or `execute` returned no result for it.
    pub fn submit(&self, item: T) -> impl Future<Output = Option<R>> + Send + use<T, R> {
        let requests = self.requests.clone();
        async move {
            let (reply, result) = oneshot::channel();
            requests.send((item, reply)).await.ok()?;
            result.await.ok()
        }
    }

    /// Queues `item` if there is room now, else refuses it; the future is as [`Batcher::submit`]'s.
    pub fn try_submit(&self, item: T) -> Result<impl Future<Output = Option<R>> + Send + use<T, R>, Full> {
        let (reply, result) = oneshot::channel();
        let queued = match self.requests.try_send((item, reply)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => return Err(Full),
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        Ok(async move {
            if !queued {
                return None;
            }
            result.await.ok()
        })
    }
}

async fn run<T, R, F, Fut>(
    mut incoming: mpsc::Receiver<(T, oneshot::Sender<R>)>,
    max_batch: usize,
    in_flight: usize,
    execute: F,
) where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<R>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = incoming.recv().await {
        // Take a slot before draining: while every slot is busy, items pile up for the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match incoming.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
        let results = execute(items);
        tokio::spawn(async move {
            for (reply, result) in replies.into_iter().zip(results.await) {
                let _ = reply.send(result);
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batcher (one batch at a time) whose batches each wait for a permit from the returned
    /// semaphore, report their size on the returned channel, and answer each item times ten.
    fn gated(max_batch: usize) -> (Batcher<u32, u32>, mpsc::UnboundedReceiver<usize>, Arc<Semaphore>) {
        let (started, batches) = mpsc::unbounded_channel::<usize>();
        let gate = Arc::new(Semaphore::new(0));
        let release = gate.clone();
        let batcher = Batcher::start(max_batch, 1, 16, move |items: Vec<u32>| {
            let started = started.clone();
            let gate = gate.clone();
            async move {
                let _ = started.send(items.len());
                let _ = gate.acquire().await.map(|permit| permit.forget());
                items.into_iter().map(|i| i * 10).collect::<Vec<_>>()
            }
        });
        (batcher, batches, release)
    }

    #[tokio::test]
    async fn items_queued_while_a_batch_runs_form_the_next_batch() {
        let (batcher, mut batches, release) = gated(8);
        let first = tokio::spawn(batcher.submit(1));
        assert_eq!(batches.recv().await, Some(1), "the first item runs alone");
        let rest: Vec<_> = (2..=4).map(|i| tokio::spawn(batcher.submit(i))).collect();
        release.add_permits(1);
        assert_eq!(first.await.unwrap(), Some(10));
        assert_eq!(batches.recv().await, Some(3), "the items that waited run as one batch");
        release.add_permits(1);
        for (handle, expected) in rest.into_iter().zip([20, 30, 40]) {
            assert_eq!(handle.await.unwrap(), Some(expected));
        }
    }

    #[tokio::test]
    async fn batches_never_exceed_the_maximum() {
        let (batcher, mut batches, release) = gated(2);
        let pending: Vec<_> = (0..5).map(|i| tokio::spawn(batcher.submit(i))).collect();
        release.add_permits(5);
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < 5 {
            sizes.push(batches.recv().await.expect("a batch"));
        }
        assert!(sizes.iter().all(|&n| (1..=2).contains(&n)), "batch sizes {sizes:?}");
        for (i, handle) in pending.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), Some(i as u32 * 10));
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let (started, mut batches) = mpsc::unbounded_channel::<usize>();
        let gate = Arc::new(Semaphore::new(0));
        let release = gate.clone();
        let batcher: Batcher<u32, u32> = Batcher::start(1, 1, 2, move |items: Vec<u32>| {
            let (started, gate) = (started.clone(), gate.clone());
            async move {
                let _ = started.send(items.len());
                let _ = gate.acquire().await.map(|permit| permit.forget());
                items
            }
        });
        let running = tokio::spawn(batcher.try_submit(1).unwrap());
        assert_eq!(batches.recv().await, Some(1));
        let queued: Vec<_> = (2..=3).map(|i| tokio::spawn(batcher.try_submit(i).unwrap())).collect();
        assert!(batcher.try_submit(4).is_err(), "the queue holds two");
        release.add_permits(3);
        assert_eq!(running.await.unwrap(), Some(1));
        for (handle, expected) in queued.into_iter().zip([2, 3]) {
            assert_eq!(handle.await.unwrap(), Some(expected));
        }
    }
}
