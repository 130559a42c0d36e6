//! A DNS answer cache honouring TTLs, including negative answers
//! (RFC 2308). Time is a caller-supplied count of seconds (any monotonic
//! origin), so the cache never reads a clock.

use std::collections::HashMap;

use crate::types::{Answer, Query, normalize_name};

/// Cache bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most entries held; the soonest-expiring is evicted beyond it.
    pub capacity: usize,
    /// Cap on positive TTLs, in seconds.
    pub max_ttl: u32,
    /// Cap on negative TTLs: RFC 2308 §5 finds one to three hours sensible
    /// and more than a day problematic.
    pub max_negative_ttl: u32,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            capacity: 4096,
            max_ttl: 86_400,
            max_negative_ttl: 10_800,
        }
    }
}

/// The TTL of a negative answer: the minimum of the SOA record's own TTL
/// and its MINIMUM field (RFC 2308 §5). Without an SOA in the authority
/// section a negative answer SHOULD NOT be cached: pass 0.
pub fn negative_ttl(soa_ttl: u32, soa_minimum: u32) -> u32 {
    soa_ttl.min(soa_minimum)
}

#[derive(Debug, Clone)]
struct Entry {
    answer: Answer,
    expires: u64,
}

/// Answers keyed by (name, type). NXDOMAIN is kept per name, since it
/// denies every type there (RFC 2308 §5). Failures are never cached.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    limits: CacheLimits,
    entries: HashMap<Query, Entry>,
    nxdomain: HashMap<String, u64>,
}

impl Cache {
    /// Empty cache with default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty cache with the given limits.
    pub fn with_limits(limits: CacheLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Stores `answer` to `query`, valid for `ttl` seconds from `now`
    /// (capped per [`CacheLimits`]). A TTL of 0 and [`Answer::Failed`] are
    /// not stored.
    pub fn insert(&mut self, query: &Query, answer: Answer, ttl: u32, now: u64) {
        if matches!(answer, Answer::Failed) || self.limits.capacity == 0 {
            return;
        }
        let cap = if answer.is_negative() {
            self.limits.max_negative_ttl
        } else {
            self.limits.max_ttl
        };
        let ttl = ttl.min(cap);
        if ttl == 0 {
            return;
        }
        let expires = now.saturating_add(u64::from(ttl));
        let name = normalize_name(&query.name);
        let key = Query {
            name,
            rtype: query.rtype,
        };
        let present = self.nxdomain.contains_key(&key.name) || self.entries.contains_key(&key);
        if !present && self.len() >= self.limits.capacity {
            self.purge(now);
            if self.len() >= self.limits.capacity {
                self.evict_one();
            }
        }
        let name = key.name.clone();
        if matches!(answer, Answer::NxDomain) {
            // Nothing exists at the name any more.
            self.entries.retain(|k, _| k.name != name);
            self.nxdomain.insert(name, expires);
        } else {
            // The name exists after all: a stale NXDOMAIN must not shadow it.
            self.nxdomain.remove(&name);
            self.entries.insert(key, Entry { answer, expires });
        }
    }

    /// The cached answer to `query` at `now`, if still valid.
    pub fn get(&self, query: &Query, now: u64) -> Option<Answer> {
        let name = normalize_name(&query.name);
        if self.nxdomain.get(&name).is_some_and(|&e| now < e) {
            return Some(Answer::NxDomain);
        }
        let key = Query {
            name,
            rtype: query.rtype,
        };
        self.entries
            .get(&key)
            .filter(|e| now < e.expires)
            .map(|e| e.answer.clone())
    }

    /// Drops everything expired at `now`.
    pub fn purge(&mut self, now: u64) {
        self.entries.retain(|_, e| now < e.expires);
        self.nxdomain.retain(|_, &mut e| now < e);
    }

    /// Number of entries (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.entries.len() + self.nxdomain.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict_one(&mut self) {
        let entry = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, e)| (k.clone(), e.expires));
        let nx = self
            .nxdomain
            .iter()
            .min_by_key(|(_, e)| **e)
            .map(|(k, e)| (k.clone(), *e));
        match (entry, nx) {
            (Some((k, a)), Some((_, b))) if a <= b => {
                self.entries.remove(&k);
            }
            (_, Some((n, _))) => {
                self.nxdomain.remove(&n);
            }
            (Some((k, _)), None) => {
                self.entries.remove(&k);
            }
            (None, None) => {}
        }
    }
}
