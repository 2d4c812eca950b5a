//! The defensive behaviours the server can be told to have: correct things real
//! servers do (throttling, refusing, delaying, greylisting) that make a naive
//! client report an error. They prove that the harness reaches the same
//! verdicts against a defensive server as against the plain one, so each
//! combines with any flaw and with the others.
//!
//! As in `flaws.rs`, every decision a behaviour changes is taken by the
//! `pub(crate)` items of this file (with the exact texts sent), so its full
//! effect can be audited here without reading the listeners or the state
//! machines.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Protocol;

/// The listen backlog of every listener without `small-backlog`: tokio's own
/// default for `TcpListener::bind`.
const DEFAULT_BACKLOG: u32 = 1024;

/// The listen backlog with `small-backlog` (Python's `socketserver` uses 5).
const SMALL_BACKLOG: u32 = 5;

/// How long the accept loop rests after each accept with `small-backlog`.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Simultaneous sessions per client address and listener with `conn-cap`.
const MAX_SESSIONS_PER_IP: usize = 2;

/// With `busy`, connection `n` of a listener is refused at the greeting when
/// `n % BUSY_CYCLE == BUSY_AT_GREETING`, and (SMTP only) cut off at its
/// second command when `n % BUSY_CYCLE == BUSY_AT_COMMAND`.
const BUSY_CYCLE: u64 = 4;
const BUSY_AT_GREETING: u64 = 1;
const BUSY_AT_COMMAND: u64 = 3;

/// Which command (counted from 1) a `busy` SMTP session is cut off at.
const BUSY_COMMAND: u64 = 2;

/// The `tarpit` delays.
const TARPIT_GREETING: Duration = Duration::from_millis(600);
const TARPIT_REPLY: Duration = Duration::from_millis(50);

/// How long a greylisted triplet must wait after its first sighting.
const GREYLIST_DELAY: Duration = Duration::from_secs(1);

/// How many triplets the greylist remembers; the oldest sighting goes first.
const GREYLIST_CAPACITY: usize = 10_000;

/// The SMTP reply with which a `busy` session is cut off at its second command.
pub(crate) const SMTP_BUSY_CLOSING: &str = "421 4.3.2 Service busy, closing transmission channel";

/// One correct but defensive thing real servers do that a naive client
/// mistakes for trouble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behaviour {
    /// Listen backlog of 5 and a 100 ms rest after each accept.
    SmallBacklog,
    /// At most 2 simultaneous sessions per client address on each listener.
    ConnCap,
    /// Connection 1 of every 4 is refused at the greeting; in SMTP,
    /// connection 3 of every 4 is cut off at its second command.
    Busy,
    /// The greeting comes after 600 ms, every later answer after 50 ms.
    Tarpit,
    /// SMTP defers a RCPT TO for 1 s after the first sighting of its
    /// (client address, sender, recipient) triplet.
    Greylist,
    /// SMTP forgets what it had read beyond a non-standard end of DATA
    /// (only reachable with the `bare-lf-data` flaw).
    DropReadAhead,
}

impl Behaviour {
    /// Every behaviour, in the order used for listing and for `Behaviours` display.
    pub const ALL: [Behaviour; 6] = [
        Behaviour::SmallBacklog,
        Behaviour::ConnCap,
        Behaviour::Busy,
        Behaviour::Tarpit,
        Behaviour::Greylist,
        Behaviour::DropReadAhead,
    ];

    /// The kebab-case name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::SmallBacklog => "small-backlog",
            Behaviour::ConnCap => "conn-cap",
            Behaviour::Busy => "busy",
            Behaviour::Tarpit => "tarpit",
            Behaviour::Greylist => "greylist",
            Behaviour::DropReadAhead => "drop-read-ahead",
        }
    }

    /// A one-line description for help output and listings.
    pub fn description(self) -> &'static str {
        match self {
            Behaviour::SmallBacklog => {
                "listens with a backlog of 5 and rests 100 ms after each accept"
            }
            Behaviour::ConnCap => {
                "refuses a third simultaneous connection from one address to one port (421 / -ERR [IN-USE] / BYE)"
            }
            Behaviour::Busy => {
                "refuses connection n at the greeting when n % 4 == 1; SMTP cuts n % 4 == 3 off at its second command (421)"
            }
            Behaviour::Tarpit => "delays the greeting by 600 ms and every later answer by 50 ms",
            Behaviour::Greylist => {
                "SMTP answers RCPT TO with 450 until 1 s after the first sighting of (client, sender, recipient)"
            }
            Behaviour::DropReadAhead => {
                "SMTP discards bytes read beyond a non-standard end of DATA (with bare-lf-data)"
            }
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A behaviour name that matches none of [`Behaviour::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown behaviour `{name}` (valid behaviours: {})", valid_names())]
pub struct UnknownBehaviour {
    /// The name that was given.
    pub name: String,
}

fn valid_names() -> String {
    Behaviour::ALL.map(Behaviour::name).join(", ")
}

impl FromStr for Behaviour {
    type Err = UnknownBehaviour;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Behaviour::ALL
            .into_iter()
            .find(|behaviour| behaviour.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownBehaviour {
                name: wanted.to_owned(),
            })
    }
}

/// A set of behaviours; the empty set (the default) is the plain server.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub struct Behaviours {
    bits: u32,
}

impl Behaviours {
    /// Whether `behaviour` is switched on.
    pub fn contains(self, behaviour: Behaviour) -> bool {
        self.bits & behaviour.bit() != 0
    }

    /// Switches `behaviour` on.
    pub fn insert(&mut self, behaviour: Behaviour) {
        self.bits |= behaviour.bit();
    }

    /// The behaviours switched on, in [`Behaviour::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Behaviour> {
        Behaviour::ALL
            .into_iter()
            .filter(move |behaviour| self.contains(*behaviour))
    }

    /// Whether this is the plain server.
    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The listen backlog for every listener. A small one makes the kernel
    /// drop connection attempts under a burst, which clients see as slow or
    /// failed connects.
    pub(crate) fn listen_backlog(self) -> u32 {
        if self.contains(Behaviour::SmallBacklog) {
            SMALL_BACKLOG
        } else {
            DEFAULT_BACKLOG
        }
    }

    /// How long the accept loop rests after each accept (a single-threaded
    /// server that forks or sets up per connection accepts slowly).
    pub(crate) fn accept_pause(self) -> Option<Duration> {
        self.contains(Behaviour::SmallBacklog)
            .then_some(ACCEPT_PAUSE)
    }

    /// Whether SMTP connection `number` (of its listener, from 0) is cut off
    /// with [`SMTP_BUSY_CLOSING`] at its `command`th command (from 1).
    pub(crate) fn smtp_busy_at_command(self, number: u64, command: u64) -> bool {
        self.contains(Behaviour::Busy)
            && number % BUSY_CYCLE == BUSY_AT_COMMAND
            && command == BUSY_COMMAND
    }

    /// The delays every answer waits for, if any.
    pub(crate) fn tarpit(self) -> Option<Tarpit> {
        self.contains(Behaviour::Tarpit).then_some(Tarpit {
            greeting: TARPIT_GREETING,
            reply: TARPIT_REPLY,
        })
    }

    /// Whether a RCPT TO that the server would accept is deferred (450) by
    /// the greylist `table`; the first attempt records the triplet.
    pub(crate) fn greylist_defers(self, table: &Mutex<Greylist>, triplet: Triplet<'_>) -> bool {
        self.contains(Behaviour::Greylist) && lock(table).defers(triplet, Instant::now())
    }

    /// Whether, when DATA ended at a non-standard sequence (`\n.\n` and kin,
    /// only with `bare-lf-data`), the bytes already read beyond it are
    /// thrown away rather than read as the next commands. Some servers reset
    /// their input buffer at such a state change; a smuggling-vulnerable one
    /// then loses the client's pipelined commands.
    pub(crate) fn drop_read_ahead_at_odd_end(self) -> bool {
        self.contains(Behaviour::DropReadAhead)
    }
}

impl From<Behaviour> for Behaviours {
    fn from(behaviour: Behaviour) -> Self {
        let mut behaviours = Behaviours::default();
        behaviours.insert(behaviour);
        behaviours
    }
}

impl FromIterator<Behaviour> for Behaviours {
    fn from_iter<I: IntoIterator<Item = Behaviour>>(iter: I) -> Self {
        let mut behaviours = Behaviours::default();
        for behaviour in iter {
            behaviours.insert(behaviour);
        }
        behaviours
    }
}

impl FromStr for Behaviours {
    type Err = UnknownBehaviour;

    /// Parses a comma-separated list; an empty (or blank) string is no behaviours.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Ok(Behaviours::default());
        }
        s.split(',').map(str::parse::<Behaviour>).collect()
    }
}

impl fmt::Display for Behaviours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, behaviour) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(behaviour.name())?;
        }
        Ok(())
    }
}

/// The SMTP reply to a RCPT TO deferred by the greylist.
pub(crate) fn greylist_reply(rcpt: &str) -> String {
    format!("450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, try again in 1 second")
}

/// The `tarpit` delays, applied by `Conn` before it writes an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tarpit {
    /// Before the first thing sent on a connection (the greeting or a refusal).
    pub(crate) greeting: Duration,
    /// Before the first thing sent after each input read.
    pub(crate) reply: Duration,
}

/// Why a connection is refused right after it is accepted (after the TLS
/// handshake on implicit-TLS listeners, as Dovecot does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `conn-cap`: the client address already has its share of sessions.
    TooManyConnections,
    /// `busy`: this connection's number says the server is busy.
    Busy,
}

impl Refusal {
    /// The single line sent before closing, in `protocol`'s words.
    pub(crate) fn line(self, protocol: Protocol, hostname: &str) -> String {
        match (self, protocol) {
            (Refusal::TooManyConnections, Protocol::Smtp | Protocol::Submission) => {
                format!("421 4.7.0 {hostname} Error: too many connections from your address")
            }
            (Refusal::TooManyConnections, Protocol::Pop3) => {
                "-ERR [IN-USE] Too many connections from your IP".to_owned()
            }
            (Refusal::TooManyConnections, Protocol::Imap) => {
                "* BYE Too many connections from your IP".to_owned()
            }
            (Refusal::Busy, Protocol::Smtp | Protocol::Submission) => {
                "421 4.3.2 Service busy, try again later".to_owned()
            }
            (Refusal::Busy, Protocol::Pop3) => {
                "-ERR [SYS/TEMP] Server busy, try again later".to_owned()
            }
            (Refusal::Busy, Protocol::Imap) => "* BYE Server busy, try again later".to_owned(),
        }
    }
}

/// Who a connection is, as its session needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Arrival {
    /// The client's address.
    pub(crate) peer: IpAddr,
    /// The connection's number on its listener, from 0.
    pub(crate) number: u64,
}

/// What [`Gate::admit`] decided about one accepted connection.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Who it is.
    pub(crate) arrival: Arrival,
    /// `Some` when it is to be refused and closed.
    pub(crate) refusal: Option<Refusal>,
    /// Its place among the client's sessions (`conn-cap`), held for the
    /// whole session.
    pub(crate) slot: Option<Slot>,
}

/// Sessions per client address on one listener.
type Occupancy = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// What one listener keeps for the behaviours: how many connections it has
/// numbered and, with `conn-cap`, who holds how many sessions.
pub(crate) struct Gate {
    behaviours: Behaviours,
    next: u64,
    occupancy: Occupancy,
}

impl Gate {
    /// A gate for a fresh listener.
    pub(crate) fn new(behaviours: Behaviours) -> Self {
        Gate {
            behaviours,
            next: 0,
            occupancy: Occupancy::default(),
        }
    }

    /// Numbers the connection just accepted from `peer` and decides whether
    /// it gets a session. Only connections that get one take a slot, so a
    /// refused client's retry does not race the refusal's own slot.
    pub(crate) fn admit(&mut self, peer: IpAddr) -> Admission {
        let number = self.next;
        self.next += 1;
        let arrival = Arrival { peer, number };
        let refused = |refusal| Admission {
            arrival,
            refusal: Some(refusal),
            slot: None,
        };
        let mut occupancy = lock(&self.occupancy);
        let held = occupancy.get(&peer).copied().unwrap_or(0);
        if self.behaviours.contains(Behaviour::ConnCap) && held >= MAX_SESSIONS_PER_IP {
            return refused(Refusal::TooManyConnections);
        }
        if self.behaviours.contains(Behaviour::Busy) && number % BUSY_CYCLE == BUSY_AT_GREETING {
            return refused(Refusal::Busy);
        }
        let slot = self.behaviours.contains(Behaviour::ConnCap).then(|| {
            *occupancy.entry(peer).or_insert(0) += 1;
            Slot {
                peer,
                occupancy: self.occupancy.clone(),
            }
        });
        Admission {
            arrival,
            refusal: None,
            slot,
        }
    }
}

/// One session's place in its listener's occupancy; dropping it (at the end
/// of the session, however it ends) frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    peer: IpAddr,
    occupancy: Occupancy,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut occupancy = lock(&self.occupancy);
        if let Some(held) = occupancy.get_mut(&self.peer) {
            *held -= 1;
            if *held == 0 {
                occupancy.remove(&self.peer);
            }
        }
    }
}

/// What greylisting keys on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Triplet<'a> {
    /// The client's address.
    pub(crate) client: IpAddr,
    /// The MAIL FROM reverse-path.
    pub(crate) sender: &'a str,
    /// The RCPT TO forward-path.
    pub(crate) recipient: &'a str,
}

/// When each (client, sender, recipient) triplet was first seen, shared by
/// the whole server.
///
/// Triplets are kept as keyed hashes, not strings: paths come from lines of up
/// to 4 KiB, and 10,000 of them would otherwise cost tens of megabytes. A
/// collision can at worst let one message through a second early.
pub(crate) struct Greylist {
    hasher: RandomState,
    first_seen: HashMap<u64, Instant>,
    /// Hashes in the order first seen, for evicting the oldest.
    order: VecDeque<u64>,
}

impl Default for Greylist {
    fn default() -> Self {
        Greylist {
            hasher: RandomState::new(),
            first_seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl Greylist {
    /// Whether `triplet`, seen at `now`, must wait; a first sighting is
    /// recorded (and must wait).
    fn defers(&mut self, triplet: Triplet<'_>, now: Instant) -> bool {
        // Mail addresses are compared case-insensitively by greylisting daemons.
        let key = self.hasher.hash_one((
            triplet.client,
            triplet.sender.to_ascii_lowercase(),
            triplet.recipient.to_ascii_lowercase(),
        ));
        if let Some(first) = self.first_seen.get(&key) {
            return now.saturating_duration_since(*first) < GREYLIST_DELAY;
        }
        if self.order.len() >= GREYLIST_CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.first_seen.remove(&oldest);
            }
        }
        self.first_seen.insert(key, now);
        self.order.push_back(key);
        true
    }

    /// How many triplets are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.first_seen.len()
    }
}

/// Locks `mutex`, carrying on after a panic elsewhere: the tables stay
/// consistent at every await-free step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const ME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    fn triplet(recipient: &str) -> Triplet<'_> {
        Triplet {
            client: ME,
            sender: "a@b.test",
            recipient,
        }
    }

    #[test]
    fn conn_cap_counts_sessions_per_address_and_frees_slots() {
        let mut gate = Gate::new(Behaviour::ConnCap.into());
        let first = gate.admit(ME);
        let second = gate.admit(ME);
        assert!(first.refusal.is_none() && second.refusal.is_none());
        assert_eq!(gate.admit(ME).refusal, Some(Refusal::TooManyConnections));
        assert!(gate.admit(OTHER).refusal.is_none(), "per address");
        drop(first);
        let third = gate.admit(ME);
        assert!(third.refusal.is_none(), "a dropped slot is free again");
        assert_eq!(third.arrival.number, 4);
        drop((second, third));
        assert!(lock(&gate.occupancy).get(&ME).is_none());
    }

    #[test]
    fn busy_refuses_one_connection_in_four() {
        let mut gate = Gate::new("busy,conn-cap".parse().expect("valid"));
        let refusals: Vec<_> = (0..8)
            .map(|_| gate.admit(ME))
            .map(|admission| admission.refusal)
            .collect();
        let busy = Some(Refusal::Busy);
        assert_eq!(refusals, [None, busy, None, None, None, busy, None, None]);
        let behaviours = Behaviours::from(Behaviour::Busy);
        let cut: Vec<_> = (0..8)
            .filter(|n| (1..5).any(|c| behaviours.smtp_busy_at_command(*n, c)))
            .collect();
        assert_eq!(cut, [3, 7]);
        assert!(behaviours.smtp_busy_at_command(3, 2));
        assert!(!Behaviours::default().smtp_busy_at_command(3, 2));
    }

    #[test]
    fn greylist_waits_a_second_per_triplet() {
        let mut list = Greylist::default();
        let start = Instant::now();
        assert!(list.defers(triplet("x@y.test"), start));
        assert!(list.defers(triplet("X@Y.test"), start + Duration::from_millis(999)));
        assert!(!list.defers(triplet("x@y.test"), start + GREYLIST_DELAY));
        assert!(list.defers(triplet("z@y.test"), start + GREYLIST_DELAY));
    }

    #[test]
    fn greylist_forgets_the_oldest_when_full() {
        let mut list = Greylist::default();
        let start = Instant::now();
        let names: Vec<String> = (0..=GREYLIST_CAPACITY).map(|i| format!("u{i}")).collect();
        for name in &names {
            list.defers(triplet(name), start);
        }
        assert_eq!(list.len(), GREYLIST_CAPACITY);
        let later = start + GREYLIST_DELAY;
        assert!(list.defers(triplet(&names[0]), later), "evicted, so new");
        assert!(!list.defers(triplet(&names[GREYLIST_CAPACITY]), later));
    }
}
