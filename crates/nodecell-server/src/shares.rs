//! Fairness: each client's bounded share of the admission slots (runs in progress plus
//! requests waiting in the queue), so that one client cannot hold every slot and lock the
//! others out. A client is the bearer token it authenticated with when tokens are configured,
//! else the IP address it connects from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Who a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    /// The configured token at this index of `auth_tokens` (tokens are configured).
    Token(usize),
    /// The peer's IP address (no tokens configured).
    Peer(IpAddr),
    /// Neither is known (in-process connections of tests): one client for all of them.
    Unknown,
}

impl Client {
    /// The client of a call: the token it carries when `tokens` are configured (the call has
    /// been authorized already, so one matches), else its peer address.
    pub fn of(tokens: &[String], authorization: Option<&[u8]>, peer: Option<IpAddr>) -> Client {
        if !tokens.is_empty() {
            if let Some(i) = crate::admission::token_index(tokens, authorization) {
                return Client::Token(i);
            }
        }
        match peer {
            Some(ip) => Client::Peer(ip),
            None => Client::Unknown,
        }
    }
}

/// How many admission slots each client holds now.
pub struct Shares {
    /// The most one client may hold at once; a share of every slot is no bound of its own
    /// (the service's are: a request past them is `overloaded`, not over its share).
    limit: usize,
    bounded: bool,
    held: Mutex<HashMap<Client, usize>>,
}

impl Shares {
    /// `percent` of `slots` (at least one) per client.
    pub fn new(slots: usize, percent: u8) -> Arc<Shares> {
        let limit = (slots * usize::from(percent) / 100).max(1);
        Arc::new(Shares {
            limit,
            bounded: limit < slots,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// The most one client may hold at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// What `client` holds now.
    pub fn held(&self, client: &Client) -> usize {
        self.lock().get(client).copied().unwrap_or(0)
    }

    /// One slot of `client`'s share, or `None` when it holds its whole share already. The slot
    /// is given back when the guard drops, however the request ends.
    pub fn take(self: &Arc<Self>, client: Client) -> Option<ShareGuard> {
        let mut held = self.lock();
        let n = held.entry(client).or_insert(0);
        if self.bounded && *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(ShareGuard {
            shares: self.clone(),
            client,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Client, usize>> {
        // A panic while holding the lock leaves consistent counts (each change is one step).
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One slot of a client's share, held while its request waits or runs.
pub struct ShareGuard {
    shares: Arc<Shares>,
    client: Client,
}

impl Drop for ShareGuard {
    fn drop(&mut self) {
        let mut held = self.shares.lock();
        if let Some(n) = held.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_a_percentage_of_the_slots_and_at_least_one() {
        assert_eq!(Shares::new(68, 25).limit(), 17);
        assert_eq!(Shares::new(2, 25).limit(), 1);
        assert_eq!(Shares::new(10, 100).limit(), 10);
    }

    #[test]
    fn a_share_of_every_slot_is_no_bound_of_its_own() {
        for (slots, percent) in [(1, 25), (4, 100)] {
            let shares = Shares::new(slots, percent);
            let held: Vec<_> = (0..slots + 1)
                .map(|_| {
                    shares
                        .take(Client::Unknown)
                        .expect("the service's caps decide")
                })
                .collect();
            assert_eq!(shares.held(&Client::Unknown), held.len());
        }
    }

    #[test]
    fn each_client_holds_at_most_its_share_and_gets_it_back_on_drop() {
        let shares = Shares::new(8, 25);
        let a = Client::Peer("10.0.0.1".parse().unwrap());
        let b = Client::Token(0);
        let first = shares.take(a).unwrap();
        let second = shares.take(a).unwrap();
        assert!(shares.take(a).is_none(), "a third slot past a share of 2");
        let other = shares.take(b).expect("another client is still admitted");
        drop(first);
        assert_eq!(shares.held(&a), 1);
        let again = shares.take(a).expect("the slot came back");
        drop((second, again, other));
        assert_eq!((shares.held(&a), shares.held(&b)), (0, 0));
        assert!(
            shares.lock().is_empty(),
            "no entry is kept for idle clients"
        );
    }

    #[test]
    fn the_client_is_the_token_when_tokens_are_configured_else_the_peer() {
        let tokens = [
            "first-token-0123456789".to_string(),
            "second-token-0123456789".to_string(),
        ];
        let peer = Some("10.0.0.7".parse().unwrap());
        assert_eq!(
            Client::of(&tokens, Some(b"Bearer second-token-0123456789"), peer),
            Client::Token(1)
        );
        assert_eq!(
            Client::of(&[], Some(b"Bearer anything"), peer),
            Client::Peer("10.0.0.7".parse().unwrap())
        );
        assert_eq!(Client::of(&[], None, None), Client::Unknown);
    }
}
