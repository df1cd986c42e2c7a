//! What a page read from the database, kept for the next request of the
//! same user and URL while the database has not changed.
//!
//! "Not changed" is the MVCC snapshot the request's session load took
//! (`pg_current_snapshot()`, in the same statement): two equal snapshots
//! see exactly the same rows, because any commit in between either
//! removes a transaction from the in-progress list or raises `xmax`. So a
//! page served from here is the page the database would give, whatever
//! path wrote (a form, the API, a worker, a trigger, plain SQL), with no
//! invalidation to forget. Entries kept under a snapshot taken before a
//! commit are simply never asked for again.
//!
//! Two things a snapshot does not cover bound an entry's life to
//! [`FRESH_FOR`]: the clock (a freeze window or a deferral that starts or
//! ends with no write) and work read after the session's statement under a
//! later snapshot (kept under the earlier one, it can only be fresher). The
//! snapshot is the cluster's, so a write to another database of the same
//! server also ends every entry: safe, only less often a hit.
//!
//! Keys hold the user (rights and the header differ per user), the work's
//! own type (each closure is its own type, so two reads never share an
//! entry) and the request's path and query. Only reads that write nothing
//! may come here: the page handlers' GET work.

use std::any::{Any, TypeId};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::domain::ids::UserId;

/// The longest an entry serves, however still the database: the lag a
/// clock-driven change (a freeze beginning) may have on a page.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user: UserId,
    work: TypeId,
    url: Box<str>,
}

struct Entry {
    snapshot: Arc<str>,
    at: Instant,
    value: Arc<dyn Any + Send + Sync>,
}

/// The server's page reads, least recently used first out.
pub struct ReadCache {
    entries: Mutex<LruCache<Key, Entry>>,
}

impl ReadCache {
    /// A cache of at most `capacity` page reads; `None` for 0 (off).
    pub fn new(capacity: usize) -> Option<Self> {
        NonZeroUsize::new(capacity).map(|capacity| Self {
            entries: Mutex::new(LruCache::new(capacity)),
        })
    }

    /// What `work` read for `user` at `url`, if it was kept under this
    /// very `snapshot` less than [`FRESH_FOR`] ago.
    pub fn get<T: Clone + Send + Sync + 'static>(
        &self,
        user: UserId,
        work: TypeId,
        url: &str,
        snapshot: &str,
    ) -> Option<T> {
        let key = Key {
            user,
            work,
            url: url.into(),
        };
        let value = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = entries.get(&key)?;
            if *entry.snapshot != *snapshot || entry.at.elapsed() >= FRESH_FOR {
                entries.pop(&key);
                return None;
            }
            entry.value.clone()
        };
        // The copy for this request is made outside the lock, which the
        // server's other threads need meanwhile.
        value.downcast_ref::<T>().cloned()
    }

    /// Keeps what `work` read for `user` at `url` under `snapshot`.
    pub fn put<T: Send + Sync + 'static>(
        &self,
        user: UserId,
        work: TypeId,
        url: &str,
        snapshot: Arc<str>,
        value: T,
    ) {
        let key = Key {
            user,
            work,
            url: url.into(),
        };
        let entry = Entry {
            snapshot,
            at: Instant::now(),
            value: Arc::new(value),
        };
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Work;
    struct Other;

    fn cache(capacity: usize) -> ReadCache {
        ReadCache::new(capacity).unwrap()
    }

    fn put(cache: &ReadCache, user: i64, url: &str, snapshot: &str, value: &str) {
        cache.put(
            UserId(user),
            TypeId::of::<Work>(),
            url,
            snapshot.into(),
            value.to_owned(),
        );
    }

    fn get(cache: &ReadCache, user: i64, url: &str, snapshot: &str) -> Option<String> {
        cache.get::<String>(UserId(user), TypeId::of::<Work>(), url, snapshot)
    }

    #[test]
    fn a_read_is_served_again_only_under_the_same_snapshot() {
        let cache = cache(8);
        put(&cache, 1, "/", "10:12:", "first");
        assert_eq!(get(&cache, 1, "/", "10:12:").as_deref(), Some("first"));
        // A commit since: a different snapshot, and the entry is gone.
        assert_eq!(get(&cache, 1, "/", "10:13:"), None);
        assert_eq!(get(&cache, 1, "/", "10:12:"), None);
    }

    #[test]
    fn users_urls_and_works_do_not_share_entries() {
        let cache = cache(8);
        put(&cache, 1, "/projects/shop", "5:5:", "admin's");
        assert_eq!(get(&cache, 2, "/projects/shop", "5:5:"), None);
        assert_eq!(get(&cache, 1, "/projects/shop?q=1", "5:5:"), None);
        assert_eq!(
            cache.get::<String>(UserId(1), TypeId::of::<Other>(), "/projects/shop", "5:5:"),
            None
        );
        // A value of another type under the same key is a miss, not a panic.
        assert_eq!(
            cache.get::<u32>(UserId(1), TypeId::of::<Work>(), "/projects/shop", "5:5:"),
            None
        );
    }

    #[test]
    fn an_entry_serves_no_longer_than_its_freshness() {
        let cache = cache(8);
        put(&cache, 1, "/", "7:7:", "old");
        std::thread::sleep(FRESH_FOR + Duration::from_millis(20));
        assert_eq!(get(&cache, 1, "/", "7:7:"), None);
    }

    #[test]
    fn the_least_recently_used_entry_makes_room() {
        let cache = cache(2);
        put(&cache, 1, "/a", "1:1:", "a");
        put(&cache, 1, "/b", "1:1:", "b");
        assert!(get(&cache, 1, "/a", "1:1:").is_some());
        put(&cache, 1, "/c", "1:1:", "c");
        assert_eq!(get(&cache, 1, "/b", "1:1:"), None);
        assert!(get(&cache, 1, "/a", "1:1:").is_some());
        assert!(get(&cache, 1, "/c", "1:1:").is_some());
    }

    #[test]
    fn no_capacity_is_no_cache() {
        assert!(ReadCache::new(0).is_none());
    }
}
