//! Validated entity ids. An id is `[A-Za-z0-9_-]{1,64}`: anything else is rejected when the
//! network is loaded or a request is parsed, so an id can never carry SQL or path syntax.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 64 characters")]
    TooLong,
    #[error("contains {0:?}; only letters, digits, '_' and '-' are allowed")]
    BadChar(char),
}

/// Checks the id grammar shared by every kind of id.
pub fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > 64 {
        return Err(IdError::TooLong);
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some(c) => Err(IdError::BadChar(c)),
        None => Ok(()),
    }
}

/// An id of one kind of entity (`K` is a marker type), cheap to clone.
pub struct Id<K> {
    value: Arc<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Id<K> {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_id(s)?;
        Ok(Self {
            value: Arc::from(s),
            kind: PhantomData,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        Self {
            value: Arc::clone(&self.value),
            kind: PhantomData,
        }
    }
}
impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<K> Eq for Id<K> {}
impl<K> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}
impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}
impl<K> std::borrow::Borrow<str> for Id<K> {
    fn borrow(&self) -> &str {
        &self.value
    }
}
impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}
impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}
impl<K> serde::Serialize for Id<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.value)
    }
}
impl<'de, K> serde::Deserialize<'de> for Id<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Id::parse(&s).map_err(|e| serde::de::Error::custom(format!("id {s:?} {e}")))
    }
}

/// Marker types for the kinds of id.
pub mod kind {
    #[derive(Debug)]
    pub enum Line {}
    #[derive(Debug)]
    pub enum Stop {}
    #[derive(Debug)]
    pub enum Bus {}
}

pub type LineId = Id<kind::Line>;
pub type StopId = Id<kind::Stop>;
pub type BusId = Id<kind::Bus>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert!(check_id("S001").is_ok());
        assert!(check_id("line_27-b").is_ok());
        assert_eq!(check_id(""), Err(IdError::Empty));
        assert_eq!(check_id(&"x".repeat(65)), Err(IdError::TooLong));
        assert_eq!(check_id("S001' OR '1'='1"), Err(IdError::BadChar('\'')));
        assert_eq!(check_id("a/b"), Err(IdError::BadChar('/')));
    }
}
