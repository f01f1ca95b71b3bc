//! The in-memory log: interactions filtered by action and k-core, ordered by time within each
//! user, with ids remapped to dense indices (users from 0, items from 1: 0 pads sequences) and
//! maps back to the ids of the file.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::interactions::Interaction;
use crate::{Error, Result};

/// k-core thresholds (0 = no filtering on that side). Filtering is iterative until both hold:
/// dropping an item can push a user under its threshold, and the other way round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KCore {
    pub min_user_interactions: usize,
    pub min_item_interactions: usize,
}

/// The original ids of a log's users (index = user) and items (index `i` = item id `i + 1`), as
/// a run saves them (`ids.json`) so that its predictions map back to the data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMaps {
    pub users: Vec<String>,
    pub items: Vec<String>,
}

/// A log as per-user, time-ordered item-id sequences with maps back to the original ids.
/// Item ids are 1-based (0 is reserved for padding); users are 0-based indices.
#[derive(Clone, Debug)]
pub struct InteractionLog {
    user_names: Vec<String>,
    item_names: Vec<String>,
    histories: Vec<Vec<u32>>,
    user_index: HashMap<String, usize>,
    item_index: HashMap<String, u32>,
    num_interactions: usize,
}

impl InteractionLog {
    /// Keeps only the interactions whose action is one of `actions` (if given; an error for a
    /// log without actions), applies the k-core, orders each user's interactions by timestamp
    /// (stable: file order on ties and when there are no timestamps) and remaps ids. Users and
    /// items are numbered in order of first appearance among the interactions kept. An error if
    /// nothing is left.
    pub fn build(
        interactions: Vec<Interaction>,
        kcore: KCore,
        actions: Option<&[String]>,
    ) -> Result<Self> {
        if interactions.is_empty() {
            return Err(Error::Invalid("no interactions".to_string()));
        }
        let interactions = filter_actions(interactions, actions)?;
        check_timestamps(&interactions)?;
        let interned = Interned::new(&interactions);
        let keep = interned.kcore(kcore);
        let (users, items) = interned.renumber(&keep, kcore)?;
        let mut timed: Vec<Vec<(Option<f64>, u32)>> = vec![Vec::new(); users.names.len()];
        for (k, interaction) in interactions.iter().enumerate().filter(|&(k, _)| keep[k]) {
            let (u, i) = interned.pairs[k];
            if let (Some(u), Some(i)) = (users.new[u], items.new[i]) {
                // `renumber` checked that item ids fit in u32.
                timed[u].push((interaction.timestamp, i as u32 + 1));
            }
        }
        let histories = timed.into_iter().map(time_ordered).collect();
        Self::from_parts(users.names, items.names, histories)
    }

    /// Rebuilds a log from saved parts (a run's id maps and sequences). Errors if the parts
    /// disagree: a history per user, item ids in `1..=item_names.len()`, no name twice.
    pub fn from_parts(
        user_names: Vec<String>,
        item_names: Vec<String>,
        histories: Vec<Vec<u32>>,
    ) -> Result<Self> {
        if histories.len() != user_names.len() {
            return Err(Error::Invalid(format!(
                "{} user names but {} histories",
                user_names.len(),
                histories.len()
            )));
        }
        let num_items = item_names.len();
        if num_items == 0 {
            return Err(Error::Invalid("a log needs at least one item".into()));
        }
        for (user, history) in user_names.iter().zip(&histories) {
            if let Some(bad) = history.iter().find(|&&i| i == 0 || i as usize > num_items) {
                return Err(Error::Invalid(format!(
                    "user `{user}` has item id {bad}, outside 1..={num_items}"
                )));
            }
        }
        let user_index = index_of(&user_names, "user", Some)?;
        let item_index = index_of(&item_names, "item", |i| u32::try_from(i + 1).ok())?;
        Ok(Self {
            num_interactions: histories.iter().map(Vec::len).sum(),
            user_names,
            item_names,
            histories,
            user_index,
            item_index,
        })
    }

    pub fn num_users(&self) -> usize {
        self.user_names.len()
    }

    /// Items, excluding the padding id 0.
    pub fn num_items(&self) -> usize {
        self.item_names.len()
    }

    pub fn num_interactions(&self) -> usize {
        self.num_interactions
    }

    /// The time-ordered item ids of `user`. Panics if `user >= num_users()`, as indexing does.
    pub fn history(&self, user: usize) -> &[u32] {
        &self.histories[user]
    }

    /// Every user's time-ordered item ids, indexed by user.
    pub fn histories(&self) -> &[Vec<u32>] {
        &self.histories
    }

    /// The original id of `user`. Panics if `user >= num_users()`, as indexing does.
    pub fn user_name(&self, user: usize) -> &str {
        &self.user_names[user]
    }

    /// The original id of `item`. Panics unless `item` is in `1..=num_items()` (0 is padding,
    /// not an item).
    pub fn item_name(&self, item: u32) -> &str {
        assert!(
            item >= 1 && item as usize <= self.item_names.len(),
            "item id {item} outside 1..={}",
            self.item_names.len()
        );
        &self.item_names[item as usize - 1]
    }

    /// The user index of an original user id.
    pub fn user_index(&self, name: &str) -> Option<usize> {
        self.user_index.get(name).copied()
    }

    /// The item id of an original item id.
    pub fn item_id(&self, name: &str) -> Option<u32> {
        self.item_index.get(name).copied()
    }

    /// Original user ids, indexed by user.
    pub fn user_names(&self) -> &[String] {
        &self.user_names
    }

    /// Original item ids: index `i` is item id `i + 1`.
    pub fn item_names(&self) -> &[String] {
        &self.item_names
    }

    /// The id maps, to save beside a run.
    pub fn id_maps(&self) -> IdMaps {
        IdMaps {
            users: self.user_names.clone(),
            items: self.item_names.clone(),
        }
    }
}

/// Name -> index for `names`, refusing duplicates (two users with one name could not be told
/// apart when predictions map back).
fn index_of<T>(
    names: &[String],
    what: &str,
    id: impl Fn(usize) -> Option<T>,
) -> Result<HashMap<String, T>> {
    let mut index = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let id = id(i).ok_or_else(|| {
            Error::Invalid(format!("{} {what}s: more than ids can number", names.len()))
        })?;
        if index.insert(name.clone(), id).is_some() {
            return Err(Error::Invalid(format!("{what} `{name}` appears twice")));
        }
    }
    Ok(index)
}

/// Keeps the interactions whose action is one of `actions`, if given.
fn filter_actions(
    interactions: Vec<Interaction>,
    actions: Option<&[String]>,
) -> Result<Vec<Interaction>> {
    let Some(actions) = actions else {
        return Ok(interactions);
    };
    let wanted = |i: &Interaction| i.action.as_ref().is_some_and(|a| actions.contains(a));
    if interactions.iter().all(|i| i.action.is_none()) {
        return Err(Error::Invalid(format!(
            "actions [{}] were requested, but the log has no action column",
            actions.join(", ")
        )));
    }
    if !interactions.iter().any(wanted) {
        let present: BTreeSet<&str> = interactions
            .iter()
            .filter_map(|i| i.action.as_deref())
            .collect();
        return Err(Error::Invalid(format!(
            "no interaction has an action among [{}] (actions in the log: {})",
            actions.join(", "),
            present.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(interactions.into_iter().filter(wanted).collect())
}

/// Timestamps must be on every interaction or on none: there is no order between a timed and
/// an untimed one.
fn check_timestamps(interactions: &[Interaction]) -> Result<()> {
    let timed = interactions
        .iter()
        .filter(|i| i.timestamp.is_some())
        .count();
    if timed == 0 || timed == interactions.len() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{timed} of {} interactions have a timestamp: either all or none must",
        interactions.len()
    )))
}

/// Item ids ordered by timestamp; the sort is stable, so ties (and a log without timestamps)
/// keep file order. `check_timestamps` makes this comparison a total order.
fn time_ordered(mut events: Vec<(Option<f64>, u32)>) -> Vec<u32> {
    events.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => Ordering::Equal,
    });
    events.into_iter().map(|(_, item)| item).collect()
}

/// Ids numbered in order of first appearance; `pairs[k]` is interaction `k`'s (user, item).
struct Interned {
    users: Vec<String>,
    items: Vec<String>,
    pairs: Vec<(usize, usize)>,
}

/// The survivors of one side after filtering: `new[old]` is the new index of old index `old`.
struct Renumbered {
    names: Vec<String>,
    new: Vec<Option<usize>>,
}

impl Interned {
    fn new(interactions: &[Interaction]) -> Self {
        fn intern<'a>(
            index: &mut HashMap<&'a str, usize>,
            names: &mut Vec<String>,
            name: &'a str,
        ) -> usize {
            *index.entry(name).or_insert_with(|| {
                names.push(name.to_string());
                names.len() - 1
            })
        }
        let (mut user_index, mut item_index) = (HashMap::new(), HashMap::new());
        let (mut users, mut items) = (Vec::new(), Vec::new());
        let pairs = interactions
            .iter()
            .map(|i| {
                let u = intern(&mut user_index, &mut users, &i.user);
                (u, intern(&mut item_index, &mut items, &i.item))
            })
            .collect();
        Self {
            users,
            items,
            pairs,
        }
    }

    /// Interactions per user and per item among those kept.
    fn counts(&self, keep: &[bool]) -> (Vec<usize>, Vec<usize>) {
        let mut users = vec![0; self.users.len()];
        let mut items = vec![0; self.items.len()];
        for (&(u, i), _) in self.pairs.iter().zip(keep).filter(|(_, &k)| k) {
            users[u] += 1;
            items[i] += 1;
        }
        (users, items)
    }

    /// Which interactions survive the k-core: each round drops those of users and items under
    /// their thresholds, until a round drops nothing.
    fn kcore(&self, kcore: KCore) -> Vec<bool> {
        let mut keep = vec![true; self.pairs.len()];
        loop {
            let (users, items) = self.counts(&keep);
            let mut dropped = false;
            for (kept, &(u, i)) in keep.iter_mut().zip(&self.pairs) {
                let under = users[u] < kcore.min_user_interactions
                    || items[i] < kcore.min_item_interactions;
                if *kept && under {
                    *kept = false;
                    dropped = true;
                }
            }
            if !dropped {
                return keep;
            }
        }
    }

    /// Dense indices for the users and items that kept an interaction, in first-appearance
    /// order; an error saying what the k-core removed if none did.
    fn renumber(&self, keep: &[bool], kcore: KCore) -> Result<(Renumbered, Renumbered)> {
        let (user_counts, item_counts) = self.counts(keep);
        let survivors = |names: &[String], counts: &[usize]| {
            let mut kept = Renumbered {
                names: Vec::new(),
                new: vec![None; names.len()],
            };
            for (old, name) in names.iter().enumerate().filter(|&(old, _)| counts[old] > 0) {
                kept.new[old] = Some(kept.names.len());
                kept.names.push(name.clone());
            }
            kept
        };
        let (users, items) = (
            survivors(&self.users, &user_counts),
            survivors(&self.items, &item_counts),
        );
        if users.names.is_empty() {
            return Err(Error::Invalid(format!(
                "the k-core (at least {} interactions per user, {} per item) removed all {} users \
                 and {} items",
                kcore.min_user_interactions,
                kcore.min_item_interactions,
                self.users.len(),
                self.items.len()
            )));
        }
        if items.names.len() > u32::MAX as usize {
            return Err(Error::Invalid(format!(
                "{} items: more than item ids (u32) can number",
                items.names.len()
            )));
        }
        Ok((users, items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(user: &str, item: &str, timestamp: Option<f64>) -> Interaction {
        Interaction {
            user: user.into(),
            item: item.into(),
            timestamp,
            action: None,
        }
    }

    fn untimed(pairs: &[(&str, &str)]) -> Vec<Interaction> {
        pairs.iter().map(|&(u, i)| at(u, i, None)).collect()
    }

    /// Each user's history as original item ids.
    fn named(log: &InteractionLog) -> Vec<(String, Vec<String>)> {
        (0..log.num_users())
            .map(|u| {
                let items = log.history(u).iter().map(|&i| log.item_name(i).to_string());
                (log.user_name(u).to_string(), items.collect())
            })
            .collect()
    }

    #[test]
    fn kcore_iterates_until_both_thresholds_hold() {
        // z has one interaction, so it goes in the first round; that leaves c with one, under
        // the user threshold, so c goes in the second round, and x drops to 2 (still enough).
        let log = untimed(&[
            ("c", "x"),
            ("a", "x"),
            ("a", "y"),
            ("b", "x"),
            ("b", "y"),
            ("c", "z"),
        ]);
        let kcore = KCore {
            min_user_interactions: 2,
            min_item_interactions: 2,
        };
        let log = InteractionLog::build(log, kcore, None).unwrap();
        assert_eq!(log.user_names(), ["a", "b"]);
        assert_eq!(log.item_names(), ["x", "y"]);
        assert_eq!(log.histories(), [vec![1, 2], vec![1, 2]]);
        assert_eq!(log.num_interactions(), 4);
        let err = InteractionLog::build(untimed(&[("a", "x"), ("b", "y")]), kcore, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the k-core (at least 2 interactions per user, 2 per item) removed all 2 users and 2 items"),
            "{err}"
        );
    }

    #[test]
    fn time_sort_is_stable_and_ids_follow_first_appearance() {
        let log = vec![
            at("u", "p", Some(5.0)),
            at("v", "q", Some(0.0)),
            at("u", "q", Some(1.0)),
            at("u", "r", Some(5.0)),
            at("u", "s", Some(1.0)),
        ];
        let log = InteractionLog::build(log, KCore::default(), None).unwrap();
        assert_eq!((log.num_users(), log.num_items()), (2, 4));
        assert_eq!(log.item_names(), ["p", "q", "r", "s"]);
        assert_eq!(log.history(0), [2, 4, 1, 3]);
        assert_eq!(log.history(1), [2]);
        let untimed = InteractionLog::build(
            untimed(&[("u", "b"), ("u", "a"), ("u", "b")]),
            KCore::default(),
            None,
        )
        .unwrap();
        assert_eq!(untimed.history(0), [1, 2, 1]);
        let mixed = vec![at("u", "a", Some(1.0)), at("u", "b", None)];
        let err = InteractionLog::build(mixed, KCore::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1 of 2 interactions have a timestamp"),
            "{err}"
        );
    }

    #[test]
    fn remapping_round_trips_names() {
        let log = untimed(&[
            ("17", "b9"),
            ("3", "a1"),
            ("17", "a1"),
            ("3", "c"),
            ("9", "b9"),
        ]);
        let log = InteractionLog::build(log, KCore::default(), None).unwrap();
        for u in 0..log.num_users() {
            assert_eq!(log.user_index(log.user_name(u)), Some(u));
        }
        for i in 1..=log.num_items() as u32 {
            assert_eq!(log.item_id(log.item_name(i)), Some(i));
        }
        assert_eq!(log.user_index("4"), None);
        assert_eq!(log.item_id("zz"), None);
        assert_eq!(
            named(&log),
            [
                ("17".to_string(), vec!["b9".to_string(), "a1".to_string()]),
                ("3".to_string(), vec!["a1".to_string(), "c".to_string()]),
                ("9".to_string(), vec!["b9".to_string()]),
            ]
        );
        let maps: IdMaps =
            serde_json::from_str(&serde_json::to_string(&log.id_maps()).unwrap()).unwrap();
        let rebuilt =
            InteractionLog::from_parts(maps.users, maps.items, log.histories().to_vec()).unwrap();
        assert_eq!(named(&rebuilt), named(&log));
        assert_eq!(rebuilt.num_interactions(), 5);
    }

    #[test]
    fn from_parts_refuses_parts_that_disagree() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = |users: &[&str], items: &[&str], histories: Vec<Vec<u32>>| {
            InteractionLog::from_parts(names(users), names(items), histories)
                .unwrap_err()
                .to_string()
        };
        let e = err(&["u"], &["a"], vec![vec![1, 2]]);
        assert!(e.contains("user `u` has item id 2, outside 1..=1"), "{e}");
        let e = err(&["u"], &["a"], vec![vec![0]]);
        assert!(e.contains("item id 0, outside"), "{e}");
        let e = err(&["u", "v"], &["a"], vec![vec![1]]);
        assert!(e.contains("2 user names but 1 histories"), "{e}");
        let e = err(&["u"], &["a", "a"], vec![vec![1]]);
        assert!(e.contains("item `a` appears twice"), "{e}");
    }

    #[test]
    fn actions_filter_before_the_kcore() {
        let acted = |user: &str, item: &str, action: Option<&str>| Interaction {
            action: action.map(str::to_string),
            ..at(user, item, None)
        };
        let log = vec![
            acted("u", "a", Some("view")),
            acted("u", "b", Some("buy")),
            acted("v", "a", Some("buy")),
        ];
        let buy = ["buy".to_string()];
        let bought = InteractionLog::build(log.clone(), KCore::default(), Some(&buy)).unwrap();
        assert_eq!(bought.item_names(), ["b", "a"]);
        assert_eq!(bought.num_interactions(), 2);
        let share = ["share".to_string()];
        let err = InteractionLog::build(log, KCore::default(), Some(&share))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "no interaction has an action among [share] (actions in the log: buy, view)"
            ),
            "{err}"
        );
        let err = InteractionLog::build(untimed(&[("u", "a")]), KCore::default(), Some(&buy))
            .unwrap_err()
            .to_string();
        assert!(err.contains("the log has no action column"), "{err}");
        let err = InteractionLog::build(Vec::new(), KCore::default(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no interactions"), "{err}");
    }
}
