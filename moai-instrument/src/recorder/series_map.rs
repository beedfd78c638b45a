//! A family's series in label order. Most families hold one series (a name with no labels, or a
//! host metric per name): that one is kept inline in the family, and from the second series on
//! they move to a `BTreeMap`. A `BTreeMap` per family allocates a leaf node of about 1 KiB for
//! its first entry, which made 100,000 single-series families take about 100 MB and a cache miss
//! each at every walk; inline, a family with its series, cell and labels takes about 700 bytes
//! (BENCHMARKS.md, "Beside the Rust peers").

use std::collections::{BTreeMap, btree_map};

use metrics::Key;

/// Series by key: `V` is the registry's entry (a cell and its labels as text).
#[derive(Default)]
pub(crate) enum SeriesMap<V> {
    #[default]
    Empty,
    One(Key, V),
    Many(BTreeMap<Key, V>),
}

impl<V> SeriesMap<V> {
    pub(crate) fn get(&self, key: &Key) -> Option<&V> {
        match self {
            SeriesMap::Empty => None,
            SeriesMap::One(one, entry) => (one == key).then_some(entry),
            SeriesMap::Many(map) => map.get(key),
        }
    }

    pub(crate) fn contains_key(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            SeriesMap::Empty => 0,
            SeriesMap::One(..) => 1,
            SeriesMap::Many(map) => map.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts `make()` under `key` unless the map holds `key` already; whether it did.
    pub(crate) fn insert_with(&mut self, key: Key, make: impl FnOnce() -> V) -> bool {
        let (map, inserted) = match std::mem::take(self) {
            SeriesMap::Empty => (SeriesMap::One(key, make()), true),
            SeriesMap::One(one, value) if one == key => (SeriesMap::One(one, value), false),
            SeriesMap::One(one, value) => (
                SeriesMap::Many(BTreeMap::from([(one, value), (key, make())])),
                true,
            ),
            SeriesMap::Many(mut map) => {
                let inserted = !map.contains_key(&key);
                if inserted {
                    map.insert(key, make());
                }
                (SeriesMap::Many(map), inserted)
            }
        };
        *self = map;
        inserted
    }

    pub(crate) fn remove(&mut self, key: &Key) {
        match self {
            SeriesMap::Empty => {}
            SeriesMap::One(one, _) => {
                if one == key {
                    *self = SeriesMap::Empty;
                }
            }
            SeriesMap::Many(map) => {
                map.remove(key);
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = SeriesMap::Empty;
    }

    /// The series in label order.
    pub(crate) fn iter(&self) -> Iter<'_, V> {
        match self {
            SeriesMap::Empty => Iter::One(None),
            SeriesMap::One(key, entry) => Iter::One(Some((key, entry))),
            SeriesMap::Many(map) => Iter::Many(map.iter()),
        }
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.iter().map(|(key, _)| key)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, entry)| entry)
    }
}

pub(crate) enum Iter<'a, V> {
    One(Option<(&'a Key, &'a V)>),
    Many(btree_map::Iter<'a, Key, V>),
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Key, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::One(one) => one.take(),
            Iter::Many(iter) => iter.next(),
        }
    }
}

impl<'a, V> IntoIterator for &'a SeriesMap<V> {
    type Item = (&'a Key, &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Key {
        Key::from_parts("m", vec![metrics::Label::new("v", value.to_owned())])
    }

    fn values(map: &SeriesMap<u32>) -> Vec<u32> {
        map.values().copied().collect()
    }

    #[test]
    fn one_series_inline_then_many_in_label_order() {
        let mut map = SeriesMap::default();
        assert!(map.is_empty() && map.get(&key("1")).is_none());
        assert!(map.insert_with(key("3"), || 3));
        assert!(matches!(map, SeriesMap::One(..)));
        // Asking again for the same key keeps the first value.
        assert!(!map.insert_with(key("3"), || 99));
        assert_eq!(values(&map), [3]);
        assert!(map.insert_with(key("1"), || 1));
        assert!(map.insert_with(key("2"), || 2));
        assert!(!map.insert_with(key("2"), || 98));
        assert_eq!(map.len(), 3);
        assert_eq!(values(&map), [1, 2, 3]);
        assert!(map.contains_key(&key("2")));
        map.remove(&key("2"));
        assert_eq!(values(&map), [1, 3]);
        map.clear();
        assert!(map.is_empty());
        assert!(map.insert_with(key("5"), || 5));
        map.remove(&key("4"));
        assert_eq!(map.len(), 1);
        map.remove(&key("5"));
        assert!(map.is_empty());
    }
}
